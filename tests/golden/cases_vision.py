"""PixelShuffle, PixelUnshuffle, ChannelShuffle, and Upsample in every mode (nearest,
nearest-exact, linear, bilinear, bicubic, trilinear, area) with size or scale_factor (one or
per dim), align_corners and recompute_scale_factor, UpsamplingNearest2d and
UpsamplingBilinear2d; after a Conv2d (blocked layout in), in a decoder, and with NaN/Inf."""
import torch
import torch.nn.functional as F

from golden import Case


# Where PyTorch 2.1 and the generator's PyTorch 1.13 pick different nearest indices. Both have
# two kernels: a generic one, floor(o * (1 / scale_factor)), and one written for channels-last
# input whose nearest_idx copies when an axis keeps its size and halves the index when it
# doubles, whatever the factor (they differ for a factor such as 2.01 that doubles the size).
# 1.13 takes the second only for channels-last-contiguous input (here: one channel); 2.1 takes
# it for every 2-D output with H + W <= 128, and the generic one otherwise (upsample.cc).


def nearest_per_axis(model, x):
    """2.1's generic kernel: 1.13's 1-D kernel is the generic one, so apply 1-D nearest
    interpolation axis by axis with the module's scale factor (separable: the same indices)."""
    up = model[0]
    dims = x.dim() - 2
    scales = up.scale_factor if isinstance(up.scale_factor, tuple) else (up.scale_factor,) * dims
    y = x
    for axis in reversed(range(dims)):
        moved = y.movedim(2 + axis, -1)
        flat = moved.reshape(-1, 1, moved.shape[-1])
        out = F.interpolate(flat, scale_factor=scales[axis], mode="nearest")
        y = out.reshape(*moved.shape[:-1], out.shape[-1]).movedim(-1, 2 + axis)
    return y


def nearest_channels_last(model, x):
    """2.1's channels-last kernel (small 2-D outputs): 1.13 takes it for one-channel input, so
    run every (sample, channel) plane as a one-channel image."""
    n, c, h, w = x.shape
    y = model(x.reshape(n * c, 1, h, w))
    return y.reshape(n, c, *y.shape[2:])


CASES = [
    # PixelShuffle: factors 1-4, leading batch dims (any number), unbatched, row tails.
    Case("vis_pixel_shuffle", "nn.Sequential(nn.PixelShuffle(2))", [(1, 8, 3, 4), (2, 4, 5, 9), (8, 3, 5)]),
    Case("vis_pixel_shuffle3", "nn.Sequential(nn.PixelShuffle(upscale_factor=3))", [(2, 18, 2, 3), (9, 4, 4)]),
    Case("vis_pixel_shuffle4", "nn.Sequential(nn.PixelShuffle(4))", [(1, 16, 2, 2), (2, 1, 32, 3, 5)]),
    Case("vis_pixel_shuffle1", "nn.Sequential(nn.PixelShuffle(1))", [(2, 3, 4, 5)]),
    Case("vis_pixel_shuffle_5d", "nn.Sequential(nn.PixelShuffle(2))", [(2, 3, 4, 3, 9)]),
    # PixelUnshuffle, and the round trip.
    Case("vis_pixel_unshuffle", "nn.Sequential(nn.PixelUnshuffle(2))", [(1, 2, 4, 6), (2, 3, 8, 18), (3, 4, 4)]),
    Case("vis_pixel_unshuffle3", "nn.Sequential(nn.PixelUnshuffle(downscale_factor=3))", [(2, 1, 6, 9), (2, 6, 3)]),
    Case("vis_pixel_roundtrip", "nn.Sequential(nn.PixelUnshuffle(2), nn.PixelShuffle(2))", [(2, 3, 6, 10)]),
    # ChannelShuffle over (N, C, *) of ranks 3-5.
    Case("vis_channel_shuffle", "nn.Sequential(nn.ChannelShuffle(3))", [(2, 6, 3, 3), (1, 9, 4), (1, 3, 2, 2, 2)]),
    Case("vis_channel_shuffle2", "nn.Sequential(nn.ChannelShuffle(groups=2))", [(2, 8, 5, 3), (1, 4, 7)]),
    Case("vis_channel_shuffle_trivial", "nn.Sequential(nn.ChannelShuffle(1), nn.ChannelShuffle(4))", [(2, 4, 3, 3)]),
    # After a Conv2d: its blocked output is reordered to plain first.
    Case("vis_conv_pixel_shuffle", "nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.PixelShuffle(2), nn.ReLU())",
         [(2, 3, 5, 6), (3, 4, 4)]),
    Case("vis_conv_channel_shuffle", "nn.Sequential(nn.Conv2d(3, 12, 1), nn.ChannelShuffle(4), nn.Conv2d(12, 4, 1))",
         [(2, 3, 5, 6)]),

    # Upsample, mode='nearest' (the default): integer and fractional factors, per-dim
    # factors, sizes, downscaling, ranks 3-5.
    Case("vis_up_nearest", "nn.Sequential(nn.Upsample(scale_factor=2))", [(1, 2, 4, 5), (2, 1, 3, 3)]),
    Case("vis_up_nearest_size", "nn.Sequential(nn.Upsample(size=(7, 3)))", [(1, 2, 4, 5), (2, 3, 9, 2)]),
    Case("vis_up_nearest_tuple", "nn.Sequential(nn.Upsample(scale_factor=(1.5, 2.5), mode='nearest'))",
         [(1, 2, 4, 5), (1, 1, 7, 3)]),
    Case("vis_up_nearest_1d", "nn.Sequential(nn.Upsample(scale_factor=2.5))", [(2, 3, 7), (1, 1, 1)]),
    Case("vis_up_nearest_3d", "nn.Sequential(nn.Upsample(scale_factor=2))", [(1, 2, 3, 4, 5)]),
    Case("vis_up_nearest_3d_size", "nn.Sequential(nn.Upsample(size=(2, 5, 7)))", [(1, 2, 3, 4, 5)]),
    Case("vis_up_nearest_down", "nn.Sequential(nn.Upsample(scale_factor=0.45))", [(1, 2, 9, 11), (1, 1, 17)]),
    Case("vis_up_nearest_large", "nn.Sequential(nn.Upsample(scale_factor=(2, 3)))", [(1, 2, 40, 50)]),
    # A factor of 2.01 that doubles the size (see nearest_per_axis above): 2.1 halves the index
    # of small 2-D outputs whatever the channels, floors o / 2.01 for large ones and 3-D.
    Case("vis_up_nearest_201_small", "nn.Sequential(nn.Upsample(scale_factor=2.01))", [(1, 2, 5, 5)],
         reference=nearest_channels_last),
    Case("vis_up_nearest_201_small_c1", "nn.Sequential(nn.Upsample(scale_factor=2.01))", [(1, 1, 5, 5)]),
    Case("vis_up_nearest_201_large", "nn.Sequential(nn.Upsample(scale_factor=2.01))", [(1, 2, 65, 65)]),
    Case("vis_up_nearest_201_large_c1", "nn.Sequential(nn.Upsample(scale_factor=2.01))", [(1, 1, 65, 65)],
         reference=nearest_per_axis),
    Case("vis_up_nearest_201_3d", "nn.Sequential(nn.Upsample(scale_factor=2.01))", [(1, 2, 5, 4, 3)]),
    Case("vis_up_nearest_201_3d_c1", "nn.Sequential(nn.Upsample(scale_factor=2.01))", [(1, 1, 5, 4, 3)],
         reference=nearest_per_axis),
    Case("vis_up_nearest_recompute",
         "nn.Sequential(nn.Upsample(scale_factor=2.01, recompute_scale_factor=True))", [(1, 2, 5, 5), (1, 1, 65, 65)]),
    Case("vis_upsampling_nearest2d", "nn.Sequential(nn.UpsamplingNearest2d(size=(6, 8)))", [(1, 2, 4, 5)]),
    Case("vis_upsampling_nearest2d_scale", "nn.Sequential(nn.UpsamplingNearest2d(scale_factor=3))", [(2, 2, 3, 4)]),

    # mode='nearest-exact' (half-pixel centres), small and large 2-D outputs, 1-D and 3-D.
    Case("vis_up_nearest_exact", "nn.Sequential(nn.Upsample(scale_factor=1.7, mode='nearest-exact'))",
         [(1, 2, 5, 7), (1, 1, 9, 4)]),
    Case("vis_up_nearest_exact_size", "nn.Sequential(nn.Upsample(size=(5, 9), mode='nearest-exact'))",
         [(1, 2, 7, 4)]),
    Case("vis_up_nearest_exact_large", "nn.Sequential(nn.Upsample(scale_factor=1.3, mode='nearest-exact'))",
         [(1, 1, 70, 90)]),
    Case("vis_up_nearest_exact_1d", "nn.Sequential(nn.Upsample(scale_factor=0.7, mode='nearest-exact'))", [(2, 3, 11)]),
    Case("vis_up_nearest_exact_3d", "nn.Sequential(nn.Upsample(size=(3, 5, 2), mode='nearest-exact'))",
         [(1, 2, 4, 3, 5)]),

    # mode='linear' (3-D input only).
    Case("vis_up_linear", "nn.Sequential(nn.Upsample(scale_factor=2, mode='linear'))", [(2, 3, 7), (1, 1, 1)]),
    Case("vis_up_linear_align", "nn.Sequential(nn.Upsample(scale_factor=2.5, mode='linear', align_corners=True))",
         [(2, 3, 7)]),
    Case("vis_up_linear_size", "nn.Sequential(nn.Upsample(size=5, mode='linear', align_corners=False))", [(2, 3, 7), (1, 2, 2)]),
    Case("vis_up_linear_one", "nn.Sequential(nn.Upsample(size=1, mode='linear'))", [(2, 3, 7)]),
    Case("vis_up_linear_down", "nn.Sequential(nn.Upsample(scale_factor=0.3, mode='linear'))", [(2, 3, 10)]),
    Case("vis_up_linear_recompute",
         "nn.Sequential(nn.Upsample(scale_factor=1.7, mode='linear', recompute_scale_factor=True))", [(2, 3, 7)]),

    # mode='bilinear' (4-D input only).
    Case("vis_up_bilinear", "nn.Sequential(nn.Upsample(scale_factor=2, mode='bilinear'))", [(1, 2, 4, 5), (2, 3, 7, 3)]),
    Case("vis_up_bilinear_align",
         "nn.Sequential(nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True))", [(1, 2, 4, 5)]),
    Case("vis_up_bilinear_size", "nn.Sequential(nn.Upsample(size=(5, 11), mode='bilinear'))", [(1, 2, 4, 5), (1, 1, 9, 13)]),
    Case("vis_up_bilinear_tuple",
         "nn.Sequential(nn.Upsample(scale_factor=(1.5, 0.75), mode='bilinear', align_corners=False))",
         [(1, 2, 4, 8), (2, 1, 7, 9)]),
    Case("vis_up_bilinear_recompute",
         "nn.Sequential(nn.Upsample(scale_factor=1.3, mode='bilinear', recompute_scale_factor=True))", [(1, 2, 7, 9)]),
    Case("vis_up_bilinear_same", "nn.Sequential(nn.Upsample(size=(4, 10), mode='bilinear'))", [(1, 2, 4, 5)]),
    Case("vis_up_bilinear_large", "nn.Sequential(nn.Upsample(scale_factor=2, mode='bilinear'))", [(1, 3, 64, 80)]),
    Case("vis_upsampling_bilinear2d", "nn.Sequential(nn.UpsamplingBilinear2d(scale_factor=2))", [(1, 2, 4, 5)]),
    Case("vis_upsampling_bilinear2d_size", "nn.Sequential(nn.UpsamplingBilinear2d(size=(3, 7)))", [(2, 2, 4, 5)]),

    # mode='bicubic' (4-D input only; taps beyond the edges clamp).
    Case("vis_up_bicubic", "nn.Sequential(nn.Upsample(scale_factor=2, mode='bicubic'))", [(1, 2, 4, 5), (1, 1, 2, 2)]),
    Case("vis_up_bicubic_align",
         "nn.Sequential(nn.Upsample(scale_factor=3, mode='bicubic', align_corners=True))", [(1, 2, 4, 5)]),
    Case("vis_up_bicubic_size", "nn.Sequential(nn.Upsample(size=(3, 9), mode='bicubic'))", [(1, 2, 7, 5)]),
    Case("vis_up_bicubic_down", "nn.Sequential(nn.Upsample(scale_factor=0.6, mode='bicubic'))", [(2, 1, 9, 8)]),

    # mode='trilinear' (5-D input only).
    Case("vis_up_trilinear", "nn.Sequential(nn.Upsample(scale_factor=2, mode='trilinear'))", [(1, 2, 3, 4, 5)]),
    Case("vis_up_trilinear_align",
         "nn.Sequential(nn.Upsample(size=(4, 5, 6), mode='trilinear', align_corners=True))", [(2, 1, 3, 3, 3)]),
    Case("vis_up_trilinear_tuple",
         "nn.Sequential(nn.Upsample(scale_factor=(1.5, 0.5, 2.5), mode='trilinear'))", [(1, 2, 4, 6, 3)]),

    # mode='area': adaptive average pooling to the output size (always recomputed).
    Case("vis_up_area", "nn.Sequential(nn.Upsample(size=(3, 4), mode='area'))", [(1, 2, 7, 9), (2, 1, 3, 4)]),
    Case("vis_up_area_scale", "nn.Sequential(nn.Upsample(scale_factor=0.5, mode='area'))", [(1, 2, 7, 9), (1, 3, 11)]),
    Case("vis_up_area_up", "nn.Sequential(nn.Upsample(scale_factor=1.5, mode='area'))", [(1, 2, 4, 5)]),
    Case("vis_up_area_3d", "nn.Sequential(nn.Upsample(size=(2, 3, 2), mode='area'))", [(1, 2, 5, 7, 4)]),

    # After a Conv2d, and a super-resolution decoder: Conv, PixelShuffle, Upsample, Conv.
    Case("vis_conv_upsample", "nn.Sequential(nn.Conv2d(3, 20, 3), nn.Upsample(scale_factor=2, mode='bilinear'))",
         [(1, 3, 7, 6), (2, 3, 5, 5)]),
    Case("vis_decoder",
         "nn.Sequential(nn.Conv2d(8, 32, 3, padding=1), nn.ReLU(), nn.PixelShuffle(2),"
         " nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False), nn.Conv2d(8, 3, 3, padding=1))",
         [(1, 8, 6, 7), (2, 8, 4, 4)]),
]

# NaN, +Inf and -Inf: every tap is computed, even at weight 0, so they spread as in PyTorch.
for name, module, shape in [
        ("nearest", "nn.Upsample(scale_factor=2)", (2, 2, 4, 5)),
        ("nearest_exact", "nn.Upsample(scale_factor=1.5, mode='nearest-exact')", (2, 2, 4, 5)),
        ("linear", "nn.Upsample(scale_factor=2, mode='linear')", (2, 3, 9)),
        ("bilinear", "nn.Upsample(scale_factor=2, mode='bilinear')", (2, 2, 4, 5)),
        ("bilinear_same", "nn.Upsample(size=(4, 9), mode='bilinear')", (2, 2, 4, 5)),
        ("bicubic", "nn.Upsample(scale_factor=2, mode='bicubic', align_corners=True)", (2, 2, 4, 5)),
        ("trilinear", "nn.Upsample(scale_factor=2, mode='trilinear')", (1, 2, 3, 4, 4)),
        ("area", "nn.Upsample(size=(2, 3), mode='area')", (2, 2, 5, 6)),
        ("pixel_shuffle", "nn.PixelShuffle(2)", (2, 8, 3, 5))]:
    CASES.append(Case(f"nan_up_{name}", f"nn.Sequential({module})", [shape], specials=4))
