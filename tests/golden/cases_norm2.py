"""BatchNorm3d, InstanceNorm1d/2d/3d (affine or not, tracked running statistics or not,
batched and unbatched) and LocalResponseNorm (odd and even windows, windows wider than the
channels, ranks 3-6), plus Dropout3d and FeatureAlphaDropout (identities in eval)."""
from golden import Case

CASES = [
    # BatchNorm3d: 5-D only; affine or not; after a ReLU (plain layout).
    Case("norm2_bn3d", "nn.Sequential(nn.BatchNorm3d(4))", [(2, 4, 3, 5, 6), (1, 4, 2, 2, 2)]),
    Case("norm2_bn3d_noaffine", "nn.Sequential(nn.BatchNorm3d(3, eps=1e-3, affine=False))", [(2, 3, 2, 3, 4)]),
    # Folded into the Conv3d / ConvTranspose3d before it (with the ReLU fused after).
    Case("norm2_conv3d_bn3d", "nn.Sequential(nn.Conv3d(3, 20, 3, padding=1), nn.BatchNorm3d(20), nn.ReLU())",
         [(2, 3, 4, 5, 6), (1, 3, 3, 2, 5)]),
    Case("norm2_convt3d_bn3d", "nn.Sequential(nn.ConvTranspose3d(4, 6, 2, stride=2), nn.BatchNorm3d(6))",
         [(2, 4, 2, 3, 2)]),
    Case("norm2_bn3d_relu", "nn.Sequential(nn.ReLU(), nn.BatchNorm3d(5, momentum=None), nn.ReLU6())",
         [(2, 5, 3, 3, 3)], input_scale=3.0),

    # InstanceNorm1d: (N, C, L) and unbatched (C, L).
    Case("norm2_in1d", "nn.Sequential(nn.InstanceNorm1d(4))", [(2, 4, 7), (4, 7), (3, 4, 2)]),
    # Without weights or running statistics num_features is unused (PyTorch 2.x warns).
    Case("norm2_in1d_any_channels", "nn.Sequential(nn.InstanceNorm1d(3))", [(2, 5, 6), (7, 3)]),
    Case("norm2_in1d_affine", "nn.Sequential(nn.InstanceNorm1d(4, affine=True))", [(2, 4, 7), (4, 9)]),
    Case("norm2_in1d_tracked", "nn.Sequential(nn.InstanceNorm1d(4, track_running_stats=True))",
         [(2, 4, 7), (4, 7), (3, 4, 1)]),
    Case("norm2_in1d_affine_tracked",
         "nn.Sequential(nn.InstanceNorm1d(num_features=4, eps=1e-3, momentum=0.5, affine=True, "
         "track_running_stats=True, device=None, dtype=None))", [(2, 4, 5), (4, 1)]),
    Case("norm2_in1d_shift", "nn.Sequential(nn.InstanceNorm1d(3, affine=True))", [(2, 3, 64)],
         input_shift=100.0, atol=5e-5),
    # InstanceNorm2d / 3d.
    Case("norm2_in2d", "nn.Sequential(nn.InstanceNorm2d(3))", [(2, 3, 5, 6), (3, 4, 4), (1, 3, 1, 2)]),
    Case("norm2_in2d_affine", "nn.Sequential(nn.InstanceNorm2d(3, eps=0.1, affine=True))", [(2, 3, 5, 6), (3, 2, 7)]),
    Case("norm2_in2d_tracked", "nn.Sequential(nn.InstanceNorm2d(3, affine=True, track_running_stats=True))",
         [(2, 3, 5, 6), (3, 1, 1)]),
    Case("norm2_in3d", "nn.Sequential(nn.InstanceNorm3d(2))", [(2, 2, 4, 3, 5), (2, 3, 2, 4)]),
    Case("norm2_in3d_affine", "nn.Sequential(nn.InstanceNorm3d(3, affine=True))", [(1, 3, 2, 3, 4)]),
    Case("norm2_in3d_tracked", "nn.Sequential(nn.InstanceNorm3d(3, track_running_stats=True))",
         [(2, 3, 2, 3, 4), (3, 1, 1, 1)]),
    # After a Conv2d (its blocked output goes plain) and before a Linear.
    Case("norm2_in2d_conv", "nn.Sequential(nn.Conv2d(3, 20, 3), nn.InstanceNorm2d(20, affine=True), nn.ReLU())",
         [(2, 3, 7, 6), (3, 5, 5)]),
    Case("norm2_in1d_linear", "nn.Sequential(nn.Linear(6, 8), nn.InstanceNorm1d(5), nn.Linear(8, 2))", [(2, 5, 6)]),

    # LocalResponseNorm: odd and even sizes (even windows sit asymmetrically: size/2 before,
    # (size-1)/2 after), a window wider than the channels, ranks 3 to 6, other alpha/beta/k.
    Case("norm2_lrn5", "nn.Sequential(nn.LocalResponseNorm(5, alpha=0.1))",
         [(2, 7, 5), (2, 9, 4, 5), (1, 6, 2, 3, 4)], input_scale=3.0),
    Case("norm2_lrn2", "nn.Sequential(nn.LocalResponseNorm(2, alpha=0.2, beta=0.5, k=2.0))",
         [(2, 7, 5), (2, 6, 3, 3)], input_scale=3.0),
    Case("norm2_lrn4", "nn.Sequential(nn.LocalResponseNorm(4, 0.05, 1.0, 0.5))",
         [(3, 8, 6), (1, 5, 2, 2, 2, 3)], input_scale=3.0),
    Case("norm2_lrn_wide", "nn.Sequential(nn.LocalResponseNorm(11, alpha=0.3))", [(2, 4, 3, 3)], input_scale=2.0),
    Case("norm2_lrn_one", "nn.Sequential(nn.LocalResponseNorm(1, alpha=0.5, beta=2.5))", [(2, 3, 5, 5)]),
    Case("norm2_lrn_default", "nn.Sequential(nn.LocalResponseNorm(3))", [(2, 5, 4, 4)], input_scale=10.0),
    # k < 0: the base goes negative where the window is small, and pow gives NaN there.
    Case("norm2_lrn_negative_base", "nn.Sequential(nn.LocalResponseNorm(3, alpha=1.0, beta=0.75, k=-1.0))",
         [(2, 5, 4, 4)], input_scale=2.0),
    Case("norm2_lrn_beta0", "nn.Sequential(nn.LocalResponseNorm(3, alpha=1.0, beta=0.0))", [(2, 5, 3)]),
    # AlexNet's block: Conv2d, ReLU, LRN, MaxPool2d.
    Case("norm2_lrn_alexnet",
         "nn.Sequential(nn.Conv2d(3, 20, 3), nn.ReLU(), nn.LocalResponseNorm(5, alpha=1e-3, beta=0.75, k=2.0),"
         " nn.MaxPool2d(2))", [(2, 3, 9, 9)], input_scale=3.0),

    # Dropout3d and FeatureAlphaDropout: identities in eval, any rank (Dropout3d only warns).
    Case("norm2_dropouts",
         "nn.Sequential(nn.Dropout3d(0.2), nn.Linear(5, 4), nn.FeatureAlphaDropout(p=0.1, inplace=False),"
         " nn.Dropout3d(), nn.ReLU())", [(2, 5), (2, 3, 4, 5), (5,)]),
    Case("norm2_dropout3d_5d", "nn.Sequential(nn.Dropout3d(p=0.5, inplace=True), nn.BatchNorm3d(2))",
         [(2, 2, 3, 3, 3)]),
]

# NaN, +Inf and -Inf reach every statistic and window.
CASES += [
    Case("nan_bn3d", "nn.Sequential(nn.BatchNorm3d(3))", [(2, 3, 2, 3, 4)], specials=6),
    Case("nan_in1d", "nn.Sequential(nn.InstanceNorm1d(4, affine=True))", [(3, 4, 6), (4, 5)], specials=4),
    Case("nan_in2d_tracked", "nn.Sequential(nn.InstanceNorm2d(3, track_running_stats=True))", [(2, 3, 4, 4)],
         specials=5),
    Case("nan_lrn", "nn.Sequential(nn.LocalResponseNorm(3, alpha=0.1))", [(2, 6, 5), (1, 7, 3, 3)], specials=5),
    Case("nan_lrn_even", "nn.Sequential(nn.LocalResponseNorm(4, alpha=0.1))", [(2, 6, 5)], specials=4),
]
