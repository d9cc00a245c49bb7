// oneDNN's channel-blocked activation layouts (nCw16c, nChw8c, nCdhw16c, ...), in which
// the convolutions of a CNN keep their activations: a block of 8 or 16 channels is
// innermost, then the spatial dims, then the channel blocks, then the batch. A kernel that
// treats each spatial position's block of channels as one wide element (pooling, padding)
// runs on such a layout directly, as on (N * channel blocks) planes, so no reorder to plain
// and back is needed around it. Channels-last (nwc, nhwc, ndhwc) is the same with one block
// of all the channels per image. Stateless functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>

#include "dnnl.hpp"

namespace seqserve {

struct ChannelBlocks {
  dnnl::memory::format_tag tag = dnnl::memory::format_tag::undef;
  int64_t block = 1;   // channels per block
  int64_t planes = 0;  // batch * channel blocks (padded channels included)
};

// The channel-blocked or channels-last layout of `md` (f32, dims (N, C, 1 to 3 spatial
// dims), no other blocking), or nullopt for any other layout.
std::optional<ChannelBlocks> FindChannelBlocks(const dnnl::memory::desc& md);

// `dims` (N, C, spatial...) in the layout `blocks` describes.
dnnl::memory::desc ChannelBlockedDesc(const dnnl::memory::dims& dims, const ChannelBlocks& blocks);

}  // namespace seqserve
