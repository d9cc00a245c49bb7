#include "core/modules/channel_blocks.h"

namespace seqserve {
namespace {

using tag = dnnl::memory::format_tag;

tag ChannelsLastTag(size_t rank) {
  switch (rank) {
    case 3: return tag::nwc;
    case 4: return tag::nhwc;
    case 5: return tag::ndhwc;
    default: return tag::undef;
  }
}

tag BlockedTag(size_t rank, int64_t block) {
  switch (rank) {
    case 3: return block == 16 ? tag::nCw16c : tag::nCw8c;
    case 4: return block == 16 ? tag::nChw16c : tag::nChw8c;
    case 5: return block == 16 ? tag::nCdhw16c : tag::nCdhw8c;
    default: return tag::undef;
  }
}

}  // namespace

std::optional<ChannelBlocks> FindChannelBlocks(const dnnl::memory::desc& md) {
  const dnnl::memory::dims dims = md.dims();
  if (dims.size() < 3 || dims.size() > 5 || md.data_type() != dnnl::memory::data_type::f32) {
    return std::nullopt;
  }
  for (int64_t block : {16, 8}) {
    const dnnl::memory::desc candidate(dims, dnnl::memory::data_type::f32,
                                       BlockedTag(dims.size(), block));
    if (candidate == md) {
      const int64_t channel_blocks = (dims[1] + block - 1) / block;
      return ChannelBlocks{BlockedTag(dims.size(), block), block, dims[0] * channel_blocks};
    }
  }
  // Channels-last is one block of all the channels per image.
  const dnnl::memory::desc channels_last(dims, dnnl::memory::data_type::f32,
                                         ChannelsLastTag(dims.size()));
  if (channels_last == md) return ChannelBlocks{ChannelsLastTag(dims.size()), dims[1], dims[0]};
  return std::nullopt;
}

dnnl::memory::desc ChannelBlockedDesc(const dnnl::memory::dims& dims, const ChannelBlocks& blocks) {
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, blocks.tag);
}

}  // namespace seqserve
