// How far a reduced-precision model's outputs are from fp32's on the same inputs: the largest
// and mean absolute error relative to the range of the fp32 outputs, the cosine similarity of
// each sample's outputs, and for classifier outputs (2-D, more than one column) how often the
// top-1 class agrees. What `check --precision` and `calibrate` print. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/tensor.h"

namespace seqserve {

class PrecisionAgreement {
 public:
  // One batch of outputs: fp32's (`want`) and the reduced model's (`got`), same shape, the
  // batch first.
  void Add(const Tensor& want, const Tensor& got);

  struct Result {
    int64_t samples = 0;
    double range = 0;       // max - min over every fp32 output
    double max_error = 0;   // max |got - want| / range
    double mean_error = 0;  // mean |got - want| / range
    double mean_cosine = 1;  // of each sample's outputs
    double min_cosine = 1;
    int64_t rows = 0;        // classifier rows (0: not a classifier's output)
    int64_t agreeing = 0;    // ... whose top-1 class agrees
  };
  Result Summary() const;

  // "int8 vs fp32 on 32 held-out inputs: error max 1.2e-02, mean 1.0e-03 (relative to the fp32
  // outputs' range 12.5); cosine mean 0.99990, min 0.99800; top-1 agreement 100.0% (32 of 32
  // rows)"
  std::string Line(std::string_view precision, std::string_view inputs) const;

 private:
  std::vector<Tensor> want_;
  std::vector<Tensor> got_;
};

}  // namespace seqserve
