#include "core/weight_cache.h"

namespace seqserve {

dnnl::memory WeightCache::Get(const std::string& key, const dnnl::memory::desc& md,
                              const dnnl::memory::desc& source_md,
                              const std::function<Tensor()>& make_data) {
  Tensor data;
  return GetOrMake(key, md, [&] {
    data = make_data();
    return dnnl::memory(source_md, engine_, data.data.data());
  });
}

dnnl::memory WeightCache::GetInt8(const std::string& key, const dnnl::memory::desc& md,
                                  const dnnl::memory::desc& source_md,
                                  const std::function<std::vector<int8_t>()>& make_data) {
  std::vector<int8_t> data;
  return GetOrMake(key, md, [&] {
    data = make_data();
    return dnnl::memory(source_md, engine_, data.data());
  });
}

dnnl::memory WeightCache::GetOrMake(const std::string& key, const dnnl::memory::desc& md,
                                    const std::function<dnnl::memory()>& make_source) {
  absl::MutexLock lock(&mu_);
  std::vector<dnnl::memory>& layouts = entries_[key];
  for (const dnnl::memory& m : layouts) {
    if (m.get_desc() == md) return m;
  }
  dnnl::memory source = make_source();
  dnnl::memory target(md, engine_);
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
