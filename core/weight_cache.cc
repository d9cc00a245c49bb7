#include "core/weight_cache.h"

namespace seqserve {

dnnl::memory WeightCache::Get(const std::string& key, const dnnl::memory::desc& md,
                              const dnnl::memory::desc& source_md,
                              const std::function<Tensor()>& make_data) {
  absl::MutexLock lock(&mu_);
  std::vector<dnnl::memory>& layouts = entries_[key];
  for (const dnnl::memory& m : layouts) {
    if (m.get_desc() == md) return m;
  }
  Tensor data = make_data();
  dnnl::memory target(md, engine_);
  dnnl::memory source(source_md, engine_, data.data.data());
  dnnl::stream stream(engine_);
  dnnl::reorder(source, target).execute(stream, source, target);
  stream.wait();
  bytes_ += md.get_size();
  layouts.push_back(target);
  return target;
}

size_t WeightCache::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

}  // namespace seqserve
