// The reordered constants (weights, biases, folded BatchNorm) of one model version,
// shared by all its plans and workers: each (key, layout) is reordered once and held
// once, however many plans and workers use it. Thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/tensor.h"
#include "dnnl.hpp"

namespace seqserve {

class WeightCache {
 public:
  explicit WeightCache(const dnnl::engine& engine) : engine_(engine) {}

  // The constant named `key` in layout `md`. On first use `make_data` produces its values
  // laid out as `source_md` (same dims as `md`, e.g. PyTorch's iohw for ConvTranspose
  // weights, or PlainDesc(md.dims())); they are reordered into `md` and kept.
  dnnl::memory Get(const std::string& key, const dnnl::memory::desc& md,
                   const dnnl::memory::desc& source_md, const std::function<Tensor()>& make_data);

  // Bytes held by all constants.
  size_t bytes() const;

 private:
  const dnnl::engine& engine_;  // process-wide engine, outlives the cache
  mutable absl::Mutex mu_;
  // key -> the constant in each layout asked for (almost always one).
  std::map<std::string, std::vector<dnnl::memory>> entries_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace seqserve
