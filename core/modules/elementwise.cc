#include "core/modules/elementwise.h"

namespace seqserve {

bool IsDenseLayout(const dnnl::memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked || d.data_type != dnnl_f32 || d.offset0 != 0) return false;
  size_t padded = sizeof(float);
  for (int i = 0; i < d.ndims; ++i) padded *= static_cast<size_t>(d.padded_dims[i]);
  return padded == md.get_size();
}

bool IsUnpaddedLayout(const dnnl::memory::desc& md) {
  if (!IsDenseLayout(md)) return false;
  const dnnl_memory_desc_t& d = md.data;
  for (int i = 0; i < d.ndims; ++i) {
    if (d.padded_dims[i] != d.dims[i]) return false;
  }
  return true;
}

}  // namespace seqserve
