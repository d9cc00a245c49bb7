// What Conv1d/2d/3d and ConvTranspose1d/2d/3d share: binding their common
// constructor arguments with PyTorch's checks, the input-rank and channel checks of their
// forward, the batched view oneDNN computes on, and the weight cache key that tells a
// folded BatchNorm apart. Stateless functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/module_args.h"
#include "core/plan_builder.h"
#include "common/tensor.h"
#include "dnnl.hpp"

namespace seqserve {

// The arguments every convolution has, validated. Spatial vectors have one entry per
// spatial dim (1 for Conv1d, 2 for Conv2d, 3 for Conv3d), in PyTorch's order (depth,
// height, width).
struct ConvArgs {
  int spatial_dims = 0;
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  std::vector<int64_t> kernel;
  std::vector<int64_t> stride;
  std::vector<int64_t> dilation;
  int64_t groups = 1;
  bool bias = true;
};

// Reads in_channels, out_channels, kernel_size, stride, dilation, groups and bias from
// `args` (device and dtype are accepted and ignored), with PyTorch's construction checks
// (groups positive, channels divisible by groups) and, at load time rather than at the
// first forward, the checks PyTorch's forward would fail every input on (non-positive
// kernel, stride or dilation).
absl::StatusOr<ConvArgs> BindConvArgs(const ModuleArgs& args, int spatial_dims);

// Python's repr of a tuple of ints: "(3, 3)", "(3,)".
std::string TupleRepr(const std::vector<int64_t>& values);

// PyTorch's input rank and channel checks for a convolution taking `in_channels`:
// (N, C, *spatial) or unbatched (C, *spatial), spatial dims non-empty.
absl::Status CheckConvInput(const Shape& in, int spatial_dims, int64_t in_channels);

// True for (N, C, *spatial), false for unbatched (C, *spatial).
bool IsBatched(const Shape& in, int spatial_dims);

// The (N, C, *spatial) dims oneDNN computes on: `shape` with a unit batch dim prepended
// when it is unbatched.
dnnl::memory::dims BatchedDims(const Shape& shape, int spatial_dims);

// The spatial dims of a (possibly unbatched) input.
std::vector<int64_t> SpatialDims(const Shape& in, int spatial_dims);

// The activation layout of oneDNN's blocked jit convolutions on this CPU: channels in
// blocks of 16 with AVX-512 (nCw16c, nChw16c, nCdhw16c), of 8 otherwise (nCw8c, ...).
dnnl::memory::format_tag BlockedTag(int spatial_dims);

// The activation layouts a convolution or deconvolution may run in, by name (the tuning
// candidates' ids): "blocked16", "blocked8" (channels in blocks of 16 or 8 innermost:
// oneDNN's jit kernels; on this CPU 16 needs AVX-512) and "channels_last" (nwc, nhwc,
// ndhwc: brgconv, and brdgmm for depthwise).
const std::vector<std::string_view>& ConvLayouts();
// BlockedTag's name: "blocked16" with AVX-512, else "blocked8".
std::string_view DefaultConvLayout();
// The candidate id of a default that is no layout (format_tag::any for src and dst).
inline constexpr std::string_view kDefaultChoice = "default";
// The format tag of layout `name` for `spatial_dims`, nullopt for an unknown name.
std::optional<dnnl::memory::format_tag> LayoutTag(std::string_view name, int spatial_dims);
// Logs that tuning chose `choice` for `layer` but it cannot be built here (a tuning cache
// from elsewhere): the default is compiled instead.
void WarnUnavailableChoice(const std::string& layer, const std::string& choice);

// The primitive descriptor of `make_desc(src_md, dst_md)` (a function from memory descs
// to an op desc) in activation layout `layout` (a ConvLayouts() name): dst in that layout
// with src as oneDNN likes (plain for a first convolution on few channels), else both in
// it (depthwise kernels want that), as long as oneDNN has more than its reference code for
// it; nullopt otherwise.
template <typename PrimitiveDesc, typename MakeDesc>
std::optional<PrimitiveDesc> LayoutPrimitiveDesc(std::string_view layout,
                                                 const MakeDesc& make_desc,
                                                 const dnnl::memory::dims& src_dims,
                                                 const dnnl::memory::dims& dst_dims,
                                                 int spatial_dims, const dnnl::primitive_attr& attr,
                                                 const dnnl::engine& engine) {
  using tag = dnnl::memory::format_tag;
  auto md = [](const dnnl::memory::dims& dims, tag t) {
    return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, t);
  };
  const std::optional<tag> family = LayoutTag(layout, spatial_dims);
  if (!family) return std::nullopt;
  for (tag src_tag : {tag::any, *family}) {
    PrimitiveDesc pd(make_desc(md(src_dims, src_tag), md(dst_dims, *family)), attr, engine,
                     /*allow_empty=*/true);
    if (pd && std::string_view(pd.impl_info_str()).substr(0, 3) != "ref") return pd;
  }
  return std::nullopt;
}

// The default: the blocked layout of BlockedTag (see DefaultConvLayout), failing that
// format_tag::any for src and dst.
//
// Why blocked and not format_tag::any: with AVX-512, oneDNN 2.6 then picks channels-last
// brgconv for convolutions but blocked jit for deconvolutions and pooling, so a CNN would
// reorder between layers, and brgconv's weight layout depends on the batch and image size,
// so every input shape would reorder (and hold) the weights again. The blocked jit kernels
// measured as fast or faster (64->64 3x3 at batch 8, 7x7 to 56x56 images), and keep one
// layout from the first convolution to the last. Where channels-last (or 8-channel blocks)
// is faster for a layer, compile-time tuning (core/tuner.h) finds it by timing.
template <typename PrimitiveDesc, typename MakeDesc>
PrimitiveDesc CreateBlockedPrimitiveDesc(const MakeDesc& make_desc,
                                         const dnnl::memory::dims& src_dims,
                                         const dnnl::memory::dims& dst_dims, int spatial_dims,
                                         const dnnl::primitive_attr& attr,
                                         const dnnl::engine& engine) {
  using tag = dnnl::memory::format_tag;
  if (std::optional<PrimitiveDesc> pd = LayoutPrimitiveDesc<PrimitiveDesc>(
          DefaultConvLayout(), make_desc, src_dims, dst_dims, spatial_dims, attr, engine)) {
    return *pd;
  }
  auto any = [](const dnnl::memory::dims& dims) {
    return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, tag::any);
  };
  return PrimitiveDesc(make_desc(any(src_dims), any(dst_dims)), attr, engine);
}

// A convolution's tuning choice: a layout name (ConvLayouts(), or kDefaultChoice), with
// kUnfusedSuffix when the fused activations run as a separate in-place kernel pass after
// the primitive instead of as its post-ops.
inline constexpr std::string_view kUnfusedSuffix = "/unfused";
struct ConvChoice {
  std::string layout;  // empty: the default
  bool unfused = false;
};
ConvChoice ParseConvChoice(const std::string& choice);
// Whether `choice` is a name ConvCandidates may give.
bool IsConvChoice(const std::string& choice);

// `fusion`'s activations as one in-place kernel pass over a buffer laid out as `md`; null
// when there are none, one of them has no kernel, or `md` has padding a kernel would not
// keep zero.
KernelFn ActivationEpilogue(const Fusion& fusion, const dnnl::memory::desc& md);

// A compiled choice: the primitive descriptor, and the epilogue to run after it (null when
// the activations are its post-ops).
template <typename PrimitiveDesc>
struct ChosenConv {
  PrimitiveDesc pd;
  KernelFn epilogue;
};

// The primitive for the choice `choice` names (PlanBuilder::choice()), or the default when
// the choice is empty or, with a warning naming `layer`, unavailable here. `output_scales`:
// an int8 convolution's per-channel scales (PlanBuilder::Attr), empty otherwise.
template <typename PrimitiveDesc, typename MakeDesc>
ChosenConv<PrimitiveDesc> ChosenPrimitiveDesc(const std::string& choice, const std::string& layer,
                                              const MakeDesc& make_desc,
                                              const dnnl::memory::dims& src_dims,
                                              const dnnl::memory::dims& dst_dims,
                                              int spatial_dims, const Fusion& fusion,
                                              const dnnl::engine& engine,
                                              const std::vector<float>& output_scales = {}) {
  const dnnl::primitive_attr fused = PlanBuilder::Attr(fusion.post_ops, output_scales);
  const ConvChoice parsed = ParseConvChoice(choice);
  if (!choice.empty()) {
    const dnnl::primitive_attr attr =
        parsed.unfused ? PlanBuilder::Attr({}, output_scales) : fused;
    std::optional<PrimitiveDesc> pd;
    if (parsed.layout == kDefaultChoice) {
      pd = CreateBlockedPrimitiveDesc<PrimitiveDesc>(make_desc, src_dims, dst_dims,
                                                     spatial_dims, attr, engine);
    } else {
      pd = LayoutPrimitiveDesc<PrimitiveDesc>(parsed.layout, make_desc, src_dims, dst_dims,
                                              spatial_dims, attr, engine);
    }
    KernelFn epilogue = pd && parsed.unfused && output_scales.empty()
                            ? ActivationEpilogue(fusion, pd->dst_desc())
                            : nullptr;
    if (pd && (!parsed.unfused || epilogue)) return {*pd, std::move(epilogue)};
    WarnUnavailableChoice(layer, choice);
  }
  return {CreateBlockedPrimitiveDesc<PrimitiveDesc>(make_desc, src_dims, dst_dims, spatial_dims,
                                                    fused, engine),
          nullptr};
}

// The tuning candidates of a convolution or deconvolution: the default, then every other
// layout of ConvLayouts() oneDNN has a non-reference kernel for (a layout that gives the
// same primitive as an earlier one is left out); each also with its activations unfused,
// when they have kernels and are not FastReluOps (one max per vector already in a register
// cannot lose to a pass over the whole output: timing it would only let noise choose).
// An int8 convolution (non-empty `output_scales`) has no unfused form: the kernels read f32.
template <typename PrimitiveDesc, typename Primitive, typename MakeDesc>
std::vector<Candidate> ConvCandidates(const MakeDesc& make_desc, const dnnl::memory::dims& src_dims,
                                      const dnnl::memory::dims& dst_dims, int spatial_dims,
                                      const Fusion& fusion, const dnnl::engine& engine,
                                      const std::vector<float>& output_scales = {}) {
  std::vector<Candidate> candidates;
  std::vector<PrimitiveDesc> pds;
  const dnnl::primitive_attr fused = PlanBuilder::Attr(fusion.post_ops, output_scales);
  const bool can_unfuse = !fusion.post_ops.empty() && !fusion.kernels.empty() &&
                          !IsFastRelu(fusion.post_ops) && output_scales.empty();
  auto add = [&](const std::string& layout, const PrimitiveDesc& pd) {
    for (const PrimitiveDesc& other : pds) {
      if (other.src_desc() == pd.src_desc() && other.dst_desc() == pd.dst_desc() &&
          other.weights_desc() == pd.weights_desc() &&
          std::string_view(other.impl_info_str()) == pd.impl_info_str()) {
        return;
      }
    }
    pds.push_back(pd);
    candidates.push_back(Candidate{layout, pd, Primitive(pd), nullptr});
    if (!can_unfuse) return;
    std::optional<PrimitiveDesc> bare;
    if (layout == kDefaultChoice) {
      bare = CreateBlockedPrimitiveDesc<PrimitiveDesc>(make_desc, src_dims, dst_dims, spatial_dims,
                                                       PlanBuilder::Attr(), engine);
    } else {
      bare = LayoutPrimitiveDesc<PrimitiveDesc>(layout, make_desc, src_dims, dst_dims,
                                                spatial_dims, PlanBuilder::Attr(), engine);
    }
    if (!bare || bare->dst_desc() != pd.dst_desc() || bare->src_desc() != pd.src_desc()) return;
    if (KernelFn epilogue = ActivationEpilogue(fusion, bare->dst_desc())) {
      candidates.push_back(Candidate{layout + std::string(kUnfusedSuffix), *bare, Primitive(*bare),
                                     std::move(epilogue)});
    }
  };
  const std::string default_layout(DefaultConvLayout());
  const PrimitiveDesc fallback = CreateBlockedPrimitiveDesc<PrimitiveDesc>(
      make_desc, src_dims, dst_dims, spatial_dims, fused, engine);
  // The default's name: its layout, or kDefaultChoice for the format_tag::any fallback,
  // which no layout name rebuilds.
  const bool blocked = LayoutPrimitiveDesc<PrimitiveDesc>(default_layout, make_desc, src_dims,
                                                          dst_dims, spatial_dims, fused, engine)
                           .has_value();
  add(blocked ? default_layout : std::string(kDefaultChoice), fallback);
  for (std::string_view layout : ConvLayouts()) {
    if (layout == default_layout) continue;
    if (std::optional<PrimitiveDesc> pd = LayoutPrimitiveDesc<PrimitiveDesc>(
            layout, make_desc, src_dims, dst_dims, spatial_dims, fused, engine)) {
      add(std::string(layout), *pd);
    }
  }
  return candidates;
}

// The weight cache key prefix of the module being compiled: its path, plus the folded
// BatchNorm's path when there is one (folded weights are different constants).
std::string ConvWeightKey(const PlanBuilder& builder, const Fusion& fusion);

// bias * scale + shift per output channel (bias taken as 0 when absent), as a
// (out_channels,) tensor: the bias of a convolution with `fusion`'s BatchNorm folded in.
Tensor FoldedConvBias(const Tensor* bias, int64_t out_channels, const Fusion& fusion);

}  // namespace seqserve
