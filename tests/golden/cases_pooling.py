"""MaxPool1d/2d/3d, AvgPool1d/2d/3d, LPPool1d/2d and the adaptive pools (1, 2 and 3 dims):
strides, padding, dilation, the ceil_mode edge windows (including the last one PyTorch drops
and the one whose divisor it clips to the padded input), count_include_pad,
divisor_override, norm_type, uniform, overlapping and upsampling adaptive bins, None
entries, unbatched inputs, pools after a convolution (blocked layout) with BatchNorm and
activations fused into it, and inputs holding NaN and +-inf (max propagates NaN; a window of
-inf is -inf; averages of inf and -inf are NaN)."""
from golden import Case

NAN, INF = float("nan"), float("inf")
# A fifth of the inputs NaN, inf or -inf.
SPECIALS = dict(special_values=(NAN, INF, -INF), special_fraction=0.2)
# Fewer for the averages, whose windows are larger and any one special decides.
FEW_SPECIALS = dict(special_values=(NAN, INF, -INF), special_fraction=0.03)
# Most inputs -inf, so that many windows hold nothing else.
MOSTLY_NEG_INF = dict(special_values=(-INF,), special_fraction=0.7)

# Hardtanh(-5, -1) makes every input negative, so a max pool that took padding for 0 fails.
NEGATIVE = "nn.Hardtanh(-5.0, -1.0), "

CASES = [
    # MaxPool2d
    Case("pool_max2d", "nn.Sequential(nn.MaxPool2d(2))", [(1, 3, 8, 8), (2, 4, 7, 9), (3, 6, 5)]),
    Case("pool_max2d_stride_pad", "nn.Sequential(nn.MaxPool2d(3, 2, 1))",
         [(1, 2, 9, 9), (2, 3, 10, 7), (2, 6, 6)]),
    Case("pool_max2d_ceil", "nn.Sequential(nn.MaxPool2d(3, 2, ceil_mode=True))",
         [(1, 2, 8, 8), (2, 3, 9, 10), (3, 6, 7)]),
    # At 5 (and 7) ceil mode would add a window starting in the right padding; PyTorch drops it.
    Case("pool_max2d_ceil_pad", "nn.Sequential(nn.MaxPool2d(2, 2, 1, ceil_mode=True))",
         [(1, 2, 5, 5), (2, 2, 6, 7), (3, 7, 4)]),
    Case("pool_max2d_rect", "nn.Sequential(nn.MaxPool2d((3, 2), (2, 1), (1, 0)))",
         [(1, 3, 7, 6), (2, 2, 8, 5)]),
    Case("pool_max2d_stride_gt_kernel", "nn.Sequential(nn.MaxPool2d(2, 3, ceil_mode=True))",
         [(1, 2, 8, 8), (1, 2, 7, 7)]),
    Case("pool_max2d_kernel1", "nn.Sequential(nn.MaxPool2d(1, 2))", [(1, 3, 5, 5), (2, 4, 4)]),
    Case("pool_max2d_negative", f"nn.Sequential({NEGATIVE}nn.MaxPool2d(3, 2, 1, ceil_mode=True))",
         [(1, 2, 8, 8), (2, 3, 7, 6)]),
    Case("pool_max2d_kwargs",
         "nn.Sequential(nn.MaxPool2d(kernel_size=(2, 3), stride=[1, 2], padding=(1, 1), "
         "dilation=1, return_indices=False, ceil_mode=False))",
         [(1, 2, 6, 7), (3, 5, 8)]),
    # Dilation runs as a plain-layout kernel.
    Case("pool_max2d_dilation", "nn.Sequential(nn.MaxPool2d(3, 1, 1, 2))",
         [(1, 2, 9, 9), (2, 3, 8, 11), (2, 7, 7)]),
    Case("pool_max2d_dilation_ceil",
         "nn.Sequential(nn.MaxPool2d((2, 3), (2, 2), (1, 1), (2, 1), ceil_mode=True))",
         [(1, 2, 8, 9), (2, 1, 7, 6), (2, 5, 5)]),
    Case("pool_max2d_dilation_negative", f"nn.Sequential({NEGATIVE}nn.MaxPool2d(3, 2, 1, 2))",
         [(1, 2, 9, 10), (2, 8, 7)]),

    # MaxPool1d
    Case("pool_max1d", "nn.Sequential(nn.MaxPool1d(3))", [(1, 4, 12), (2, 3, 10), (5, 9)]),
    Case("pool_max1d_ceil_pad", "nn.Sequential(nn.MaxPool1d(4, 2, 2, ceil_mode=True))",
         [(1, 3, 11), (2, 2, 10), (3, 7)]),
    Case("pool_max1d_dilation", "nn.Sequential(nn.MaxPool1d(3, 2, 1, 2))", [(1, 3, 13), (4, 12)]),
    Case("pool_max1d_dilation_ceil", "nn.Sequential(nn.MaxPool1d(2, 3, 1, 3, ceil_mode=True))",
         [(1, 2, 11), (2, 3, 9), (3, 8)]),

    # AvgPool2d
    Case("pool_avg2d", "nn.Sequential(nn.AvgPool2d(2))", [(1, 3, 8, 8), (2, 4, 7, 9), (3, 6, 5)]),
    Case("pool_avg2d_pad", "nn.Sequential(nn.AvgPool2d(3, 2, 1))", [(1, 2, 9, 9), (2, 3, 10, 7)]),
    Case("pool_avg2d_pad_exclude", "nn.Sequential(nn.AvgPool2d(3, 2, 1, count_include_pad=False))",
         [(1, 2, 9, 9), (2, 3, 10, 7)]),
    # The last window reaches past the right padding: PyTorch divides by the clipped window.
    Case("pool_avg2d_ceil", "nn.Sequential(nn.AvgPool2d(3, 2, 1, ceil_mode=True))",
         [(1, 2, 8, 8), (2, 3, 10, 7), (2, 6, 6)]),
    Case("pool_avg2d_ceil_exclude",
         "nn.Sequential(nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False))",
         [(1, 2, 8, 8), (2, 3, 10, 7), (2, 6, 6)]),
    Case("pool_avg2d_ceil_nopad", "nn.Sequential(nn.AvgPool2d(2, 2, 0, ceil_mode=True))",
         [(1, 2, 7, 7), (1, 1, 5, 8), (3, 5, 6)]),
    # Here ceil mode adds nothing: every window ends inside the padded input.
    Case("pool_avg2d_ceil_inside", "nn.Sequential(nn.AvgPool2d(3, 2, 1, ceil_mode=True))",
         [(1, 2, 9, 9), (2, 7, 7)]),
    Case("pool_avg2d_divisor", "nn.Sequential(nn.AvgPool2d(3, 2, 1, divisor_override=5))",
         [(1, 2, 9, 9), (2, 8, 8)]),
    Case("pool_avg2d_divisor_ceil",
         "nn.Sequential(nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False, "
         "divisor_override=4))",
         [(1, 2, 8, 8), (2, 3, 10, 7)]),
    Case("pool_avg2d_rect_ceil",
         "nn.Sequential(nn.AvgPool2d((2, 3), (1, 2), (1, 1), ceil_mode=True))",
         [(1, 2, 6, 7), (2, 5, 8)]),
    Case("pool_avg2d_kwargs",
         "nn.Sequential(nn.AvgPool2d(kernel_size=[3, 2], stride=None, padding=(1, 0), "
         "ceil_mode=False, count_include_pad=True, divisor_override=None))",
         [(1, 3, 7, 8), (2, 9, 4)]),

    # AvgPool1d
    Case("pool_avg1d", "nn.Sequential(nn.AvgPool1d(3))", [(1, 4, 12), (2, 3, 10), (5, 9)]),
    Case("pool_avg1d_ceil", "nn.Sequential(nn.AvgPool1d(3, 2, 1, ceil_mode=True))",
         [(1, 3, 10), (2, 2, 11), (4, 8)]),
    Case("pool_avg1d_ceil_exclude",
         "nn.Sequential(nn.AvgPool1d(4, 3, 2, ceil_mode=True, count_include_pad=False))",
         [(1, 3, 10), (2, 9)]),
    Case("pool_avg1d_pad", "nn.Sequential(nn.AvgPool1d(5, 1, 2))", [(1, 2, 7), (3, 6)]),

    # Adaptive pooling: uniform bins run on oneDNN, the others on the kernels.
    Case("pool_adaptive_avg2d_global", "nn.Sequential(nn.AdaptiveAvgPool2d(1))",
         [(1, 8, 7, 7), (2, 4, 5, 3), (3, 4, 4)]),
    Case("pool_adaptive_avg2d_uniform", "nn.Sequential(nn.AdaptiveAvgPool2d((2, 3)))",
         [(1, 3, 8, 9), (2, 2, 4, 6), (2, 6, 3)]),
    Case("pool_adaptive_avg2d_bins", "nn.Sequential(nn.AdaptiveAvgPool2d((3, 4)))",
         [(1, 3, 7, 10), (2, 2, 5, 9), (3, 8, 11)]),
    Case("pool_adaptive_avg2d_upsample", "nn.Sequential(nn.AdaptiveAvgPool2d(7))",
         [(1, 2, 5, 5), (2, 3, 4)]),
    Case("pool_adaptive_avg2d_none", "nn.Sequential(nn.AdaptiveAvgPool2d((None, 3)))",
         [(1, 2, 5, 7), (2, 6, 9)]),
    Case("pool_adaptive_avg2d_none_rows", "nn.Sequential(nn.AdaptiveAvgPool2d([4, None]))",
         [(1, 2, 10, 3), (2, 5, 6)]),
    Case("pool_adaptive_avg2d_identity", "nn.Sequential(nn.AdaptiveAvgPool2d((None, None)))",
         [(1, 2, 3, 4)]),
    Case("pool_adaptive_max2d", "nn.Sequential(nn.AdaptiveMaxPool2d((3, 3)))",
         [(1, 3, 7, 7), (2, 2, 9, 9), (2, 10, 4)]),
    Case("pool_adaptive_max2d_upsample", "nn.Sequential(nn.AdaptiveMaxPool2d((7, None)))",
         [(1, 2, 5, 4), (2, 3, 6)]),
    Case("pool_adaptive_max2d_global", "nn.Sequential(nn.AdaptiveMaxPool2d(1))",
         [(2, 4, 5, 6), (3, 7, 7)]),
    Case("pool_adaptive_max2d_negative",
         f"nn.Sequential({NEGATIVE}nn.AdaptiveMaxPool2d((4, 3), return_indices=False))",
         [(1, 2, 10, 4), (2, 6, 5)]),
    Case("pool_adaptive_avg1d", "nn.Sequential(nn.AdaptiveAvgPool1d(4))",
         [(1, 3, 10), (2, 2, 8), (3, 7)]),
    Case("pool_adaptive_avg1d_bins", "nn.Sequential(nn.AdaptiveAvgPool1d(3))",
         [(1, 3, 7), (2, 10)]),
    Case("pool_adaptive_avg1d_upsample", "nn.Sequential(nn.AdaptiveAvgPool1d((7,)))",
         [(1, 2, 5), (3, 4)]),

    # After convolutions: pooling reads the convolution's blocked layout.
    Case("pool_after_conv",
         "nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.MaxPool2d(2), "
         "nn.AvgPool2d(3, 2, 1, ceil_mode=True), nn.AdaptiveAvgPool2d(1))",
         [(1, 3, 16, 16), (2, 3, 13, 11), (3, 12, 12)]),
    Case("pool_after_conv_bn",
         "nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), "
         "nn.MaxPool2d(3, 2, 1, ceil_mode=True), nn.AdaptiveMaxPool2d((2, 3)))",
         [(1, 3, 10, 10), (2, 3, 9, 7)]),
    Case("pool_after_conv_kernels",
         "nn.Sequential(nn.Conv2d(2, 8, 3), nn.MaxPool2d(2, dilation=2), nn.Conv2d(8, 4, 1), "
         "nn.AvgPool2d(2, ceil_mode=True), nn.AdaptiveAvgPool2d((3, 2)))",
         [(1, 2, 14, 14), (2, 2, 12, 15)]),
    Case("pool_after_conv1d",
         "nn.Sequential(nn.Conv1d(2, 8, 3), nn.ReLU(), nn.MaxPool1d(2), "
         "nn.AvgPool1d(3, 2, 1, ceil_mode=True), nn.AdaptiveAvgPool1d(3))",
         [(1, 2, 20), (2, 2, 17), (2, 15)]),
    # Max pooling between convolutions with padding, ceil_mode and dilation: in an int8 plan
    # it runs on the 8-bit grid between them (u8 after the ReLU, s8 without one).
    Case("pool_between_convs",
         "nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(3, 2, 1, ceil_mode=True), "
         "nn.Conv2d(8, 8, 3, padding=1), nn.MaxPool2d(2, dilation=2), nn.Conv2d(8, 4, 1))",
         [(2, 3, 13, 11), (1, 3, 16, 16)]),
    Case("pool_lenet",
         "nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), "
         "nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 10))",
         [(1, 1, 28, 28), (2, 1, 28, 28)]),

    # MaxPool3d
    Case("pool_max3d", "nn.Sequential(nn.MaxPool3d(2))", [(1, 3, 4, 6, 5), (2, 2, 5, 4, 7), (3, 4, 5, 6)]),
    Case("pool_max3d_stride_pad", "nn.Sequential(nn.MaxPool3d((3, 3, 2), (2, 1, 2), (1, 1, 0)))",
         [(1, 2, 7, 5, 6), (2, 5, 4, 7)]),
    Case("pool_max3d_ceil", "nn.Sequential(nn.MaxPool3d(3, 2, 1, ceil_mode=True))",
         [(1, 2, 6, 7, 8), (2, 5, 5, 6)]),
    Case("pool_max3d_dilation",
         "nn.Sequential(nn.MaxPool3d(kernel_size=(2, 3, 2), stride=(1, 2, 1), padding=1, dilation=(2, 1, 3),"
         " return_indices=False, ceil_mode=True))",
         [(1, 2, 6, 7, 8), (2, 5, 6, 7)]),
    Case("pool_max3d_negative", f"nn.Sequential({NEGATIVE}nn.MaxPool3d(3, 2, 1, dilation=2))",
         [(1, 2, 7, 6, 7), (2, 6, 5, 6)]),
    # AvgPool3d
    Case("pool_avg3d", "nn.Sequential(nn.AvgPool3d(2))", [(1, 3, 4, 6, 5), (2, 2, 5, 4, 7), (3, 4, 5, 6)]),
    Case("pool_avg3d_pad", "nn.Sequential(nn.AvgPool3d((3, 2, 3), (2, 1, 2), (1, 1, 1)))",
         [(1, 2, 7, 5, 6), (2, 5, 4, 7)]),
    Case("pool_avg3d_pad_exclude", "nn.Sequential(nn.AvgPool3d(3, 2, 1, count_include_pad=False))",
         [(1, 2, 7, 5, 6), (2, 5, 4, 7)]),
    # The last window reaches past the right padding: PyTorch divides by the clipped window.
    Case("pool_avg3d_ceil", "nn.Sequential(nn.AvgPool3d(3, 2, 1, ceil_mode=True))",
         [(1, 2, 6, 7, 8), (2, 6, 5, 6)]),
    Case("pool_avg3d_ceil_exclude",
         "nn.Sequential(nn.AvgPool3d((2, 3, 3), 2, (0, 1, 1), ceil_mode=True, count_include_pad=False))",
         [(1, 2, 5, 7, 8), (2, 6, 5, 6)]),
    Case("pool_avg3d_divisor", "nn.Sequential(nn.AvgPool3d(3, 2, 1, ceil_mode=True, divisor_override=7))",
         [(1, 2, 6, 7, 8), (2, 5, 5, 6)]),
    # LPPool1d/2d: F.lp_pool multiplies the (clipped-divisor) average by the whole kernel.
    Case("pool_lp1d", "nn.Sequential(nn.LPPool1d(2, 3))", [(1, 3, 10), (2, 2, 9), (4, 8)]),
    Case("pool_lp1d_ceil", "nn.Sequential(nn.LPPool1d(3, 3, 2, ceil_mode=True))", [(1, 3, 10), (4, 8)],
         input_shift=3.0),
    # A non-integer power of a negative input is NaN, as in PyTorch.
    Case("pool_lp1d_fractional", "nn.Sequential(nn.LPPool1d(1.5, 2, stride=1))", [(2, 3, 7), (3, 6)],
         input_shift=1.5),
    Case("pool_lp2d", "nn.Sequential(nn.LPPool2d(2, (3, 2)))", [(1, 3, 7, 6), (2, 2, 9, 5), (2, 6, 7)]),
    Case("pool_lp2d_ceil",
         "nn.Sequential(nn.LPPool2d(norm_type=4, kernel_size=3, stride=(2, 1), ceil_mode=True))",
         [(1, 2, 8, 7), (2, 6, 5)]),
    Case("pool_lp2d_p1", "nn.Sequential(nn.LPPool2d(1, 2))", [(1, 2, 6, 7), (3, 5, 4)]),
    Case("pool_lp2d_after_conv", "nn.Sequential(nn.Conv2d(2, 20, 3), nn.ReLU(), nn.LPPool2d(2.5, 2))",
         [(2, 2, 9, 8), (2, 7, 7)]),
    # Adaptive pools in 1 and 3 dims.
    Case("pool_adaptive_max1d", "nn.Sequential(nn.AdaptiveMaxPool1d(4))", [(1, 3, 10), (2, 2, 8), (3, 7)]),
    Case("pool_adaptive_max1d_upsample", "nn.Sequential(nn.AdaptiveMaxPool1d((7,), return_indices=False))",
         [(1, 2, 5), (3, 4)]),
    Case("pool_adaptive_avg3d", "nn.Sequential(nn.AdaptiveAvgPool3d((2, 3, 1)))",
         [(1, 3, 4, 6, 5), (2, 2, 6, 9, 3), (2, 4, 3, 7)]),
    Case("pool_adaptive_avg3d_bins", "nn.Sequential(nn.AdaptiveAvgPool3d((3, None, 4)))",
         [(1, 2, 7, 5, 10), (2, 5, 4, 9)]),
    Case("pool_adaptive_max3d", "nn.Sequential(nn.AdaptiveMaxPool3d(2))",
         [(1, 3, 4, 6, 5), (2, 2, 5, 3, 7), (2, 4, 3, 7)]),
    Case("pool_adaptive_max3d_upsample", "nn.Sequential(nn.AdaptiveMaxPool3d((None, 5, 3)))",
         [(1, 2, 3, 4, 2), (2, 3, 4, 5)]),
    # 3-d pools after convolutions, on the blocked layout (20 channels: a padded block).
    Case("pool3d_after_conv",
         "nn.Sequential(nn.Conv3d(2, 20, 3, padding=1), nn.ReLU(), nn.MaxPool3d(2, ceil_mode=True),"
         " nn.AvgPool3d(2, 1, 1, ceil_mode=True), nn.AdaptiveAvgPool3d((2, 3, 2)), nn.AdaptiveMaxPool3d(1))",
         [(1, 2, 7, 6, 5), (2, 2, 5, 8, 6), (2, 6, 5, 6)]),
    Case("pool1d_after_conv_blocked",
         "nn.Sequential(nn.Conv1d(2, 20, 3), nn.MaxPool1d(3, 2, 1, dilation=1), nn.AdaptiveMaxPool1d(3))",
         [(2, 2, 15), (2, 12)]),
    # NaN and +-inf inputs.
    Case("pool_nan_max2d", "nn.Sequential(nn.MaxPool2d(3, 2, 1), nn.MaxPool2d(2, ceil_mode=True))",
         [(2, 3, 9, 10), (3, 7, 8)], **SPECIALS),
    Case("pool_nan_max_neg_inf", "nn.Sequential(nn.MaxPool2d(2))", [(2, 3, 8, 8), (3, 6, 7)], **MOSTLY_NEG_INF),
    Case("pool_nan_max1d_dilated", "nn.Sequential(nn.MaxPool1d(3, 1, 1, 2))", [(2, 3, 12), (3, 9)], **SPECIALS),
    Case("pool_nan_max3d", "nn.Sequential(nn.MaxPool3d(2, 1))", [(2, 2, 4, 5, 3), (2, 3, 4, 5)], **SPECIALS),
    Case("pool_nan_adaptive_max",
         "nn.Sequential(nn.AdaptiveMaxPool2d((3, 5)), nn.AdaptiveMaxPool1d(2))",
         [(2, 7, 9)], **SPECIALS),
    Case("pool_nan_adaptive_max_uniform", "nn.Sequential(nn.AdaptiveMaxPool2d(2))", [(2, 3, 6, 4)],
         **MOSTLY_NEG_INF),
    Case("pool_nan_adaptive_max3d", "nn.Sequential(nn.AdaptiveMaxPool3d((2, 3, 2)))", [(2, 2, 4, 7, 5)],
         **SPECIALS),
    Case("pool_nan_avg", "nn.Sequential(nn.AvgPool2d(3, 2, 1, ceil_mode=True), nn.AvgPool2d(2))",
         [(2, 3, 9, 10)], **FEW_SPECIALS),
    Case("pool_nan_avg_onednn", "nn.Sequential(nn.AvgPool2d(2), nn.AvgPool1d(2, count_include_pad=False))",
         [(2, 8, 8)], special_values=(INF, -INF), special_fraction=0.1),
    Case("pool_nan_avg3d", "nn.Sequential(nn.AvgPool3d(2, divisor_override=3), nn.AdaptiveAvgPool3d((2, 1, 3)))",
         [(2, 2, 4, 6, 6)], **FEW_SPECIALS),
    Case("pool_nan_adaptive_avg", "nn.Sequential(nn.AdaptiveAvgPool2d((3, 5)))", [(2, 2, 7, 9)], **FEW_SPECIALS),
    Case("pool_nan_lp", "nn.Sequential(nn.LPPool2d(2, 2), nn.LPPool1d(3, 2))", [(3, 6, 8)], **FEW_SPECIALS),
    # After a convolution in blocked layout: NaN spreads through the convolution first.
    Case("pool_nan_after_conv",
         "nn.Sequential(nn.Conv2d(3, 20, 1, bias=False), nn.MaxPool2d(2), nn.AdaptiveMaxPool2d((2, 3)))",
         [(2, 3, 8, 12)], special_values=(NAN, -INF), special_fraction=0.01),
]

