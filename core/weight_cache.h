// The reordered constants (weights, biases, folded BatchNorm) of one model version,
// shared by all its plans and workers: each (key, layout) is reordered once and held
// once, however many plans and workers use it. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
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

  // The same for s8 data (an int8 layer's quantised weights; `source_md` of type s8): the
  // reorder into `md` also computes what oneDNN's int8 kernels keep beside the weights.
  dnnl::memory GetInt8(const std::string& key, const dnnl::memory::desc& md,
                       const dnnl::memory::desc& source_md,
                       const std::function<std::vector<int8_t>()>& make_data);

  // Bytes held by all constants.
  size_t bytes() const;

 private:
  // The constant named `key` in `md`, made by reordering the memory `make_source` returns on first
  // use.
  dnnl::memory GetOrMake(const std::string& key, const dnnl::memory::desc& md,
                         const std::function<dnnl::memory()>& make_source);

  const dnnl::engine& engine_;  // process-wide engine, outlives the cache
  mutable absl::Mutex mu_;
  // key -> the constant in each layout asked for (almost always one).
  std::map<std::string, std::vector<dnnl::memory>> entries_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace seqserve
