"""BatchNorm1d/2d, LayerNorm and GroupNorm: several shapes each (batch 1, odd sizes, the ranks
PyTorch accepts), eps and affine variants, inputs with a large common offset, and the
layouts they meet in a model (after a Linear, a ReLU, or a Conv2d's blocked output)."""
import inspect

from torch import nn

from golden import Case

# PyTorch >= 2.1 has LayerNorm(..., bias=True); the generator's PyTorch 1.13 does not. This
# reproduces 2.x's definition (weight only when bias=False, F.layer_norm with bias None) so
# that model.seq can be written as a 2.x user writes it.
if "bias" not in inspect.signature(nn.LayerNorm.__init__).parameters:
    class _LayerNorm(nn.LayerNorm):
        def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                     device=None, dtype=None):
            super().__init__(normalized_shape, eps, elementwise_affine, device, dtype)
            if elementwise_affine and not bias:
                self.bias = None

    nn.LayerNorm = _LayerNorm

# With an offset of 100 (1000), PyTorch's own float32 result is off from the exact one by up
# to ~1.5e-5 (1.5e-4): float inputs near 100 are only that precise. These cases allow for it;
# statistics computed naively in float would be off by far more.
SHIFT_100_ATOL = 5e-5
SHIFT_1000_ATOL = 5e-4

CASES = [
    # BatchNorm2d: 4-D only (PyTorch 1.13 and 2.x both reject unbatched input).
    Case("norm_bn2d", "nn.Sequential(nn.BatchNorm2d(4))", [(1, 4, 5, 7), (3, 4, 6, 6), (2, 4, 1, 1)]),
    Case("norm_bn2d_noaffine_eps", "nn.Sequential(nn.BatchNorm2d(3, eps=1e-3, affine=False))",
         [(2, 3, 5, 5), (1, 3, 3, 9)]),
    Case("norm_bn2d_kwargs",
         "nn.Sequential(nn.BatchNorm2d(num_features=5, eps=0.1, momentum=None, affine=True, "
         "track_running_stats=True, device=None, dtype=None))", [(1, 5, 4, 3)]),
    Case("norm_bn2d_after_relu", "nn.Sequential(nn.ReLU(), nn.BatchNorm2d(6), nn.ReLU())",
         [(2, 6, 7, 5), (1, 6, 3, 3)]),
    Case("norm_bn2d_shift", "nn.Sequential(nn.BatchNorm2d(4))", [(2, 4, 3, 5)],
         input_scale=10.0, input_shift=1000.0),
    # After Conv2d + ReLU the BatchNorm cannot be folded: it runs on the conv's blocked layout.
    Case("norm_bn2d_conv_relu", "nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.BatchNorm2d(16), nn.ReLU())",
         [(1, 3, 9, 9), (2, 3, 8, 7)]),

    # BatchNorm1d on (N, C) and (N, C, L).
    Case("norm_bn1d_2d", "nn.Sequential(nn.BatchNorm1d(16))", [(1, 16), (7, 16)]),
    Case("norm_bn1d_3d", "nn.Sequential(nn.BatchNorm1d(6))", [(2, 6, 9), (1, 6, 1)]),
    Case("norm_bn1d_noaffine", "nn.Sequential(nn.BatchNorm1d(5, 1e-2, 0.3, False))", [(4, 5), (2, 5, 3)]),
    Case("norm_bn1d_shift", "nn.Sequential(nn.BatchNorm1d(6))", [(3, 6, 5)], input_shift=500.0),
    # Folded into the Linear (AsChannelAffine), across an identity, with an eltwise after it.
    Case("norm_bn1d_linear_fold",
         "nn.Sequential(nn.Linear(10, 8, bias=False), nn.Dropout(), nn.BatchNorm1d(8, eps=1e-3, affine=False), "
         "nn.Tanh())", [(1, 10), (5, 10)]),
    Case("norm_bn1d_linear_fold_affine",
         "nn.Sequential(nn.Linear(10, 8), nn.BatchNorm1d(8, eps=0.5), nn.Linear(8, 8), nn.BatchNorm1d(8))",
         [(3, 10)], input_scale=3.0),
    # A ReLU between Linear and BatchNorm1d prevents folding.
    Case("norm_bn1d_linear_relu", "nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.BatchNorm1d(8))",
         [(3, 10), (1, 10)]),

    # LayerNorm over 1, 2 and 3 trailing dims; the normalized dims alone (no batch) too.
    Case("norm_ln_1d", "nn.Sequential(nn.LayerNorm(10))", [(3, 10), (10,), (2, 3, 10)]),
    Case("norm_ln_2d", "nn.Sequential(nn.LayerNorm((4, 5)))", [(2, 4, 5), (4, 5), (3, 2, 4, 5)]),
    Case("norm_ln_3d", "nn.Sequential(nn.LayerNorm([3, 4, 5]))", [(2, 3, 4, 5), (3, 4, 5)]),
    Case("norm_ln_size", "nn.Sequential(nn.LayerNorm(torch.Size([4, 5]), eps=1e-6))", [(3, 4, 5)]),
    Case("norm_ln_noaffine_eps", "nn.Sequential(nn.LayerNorm(8, eps=1e-3, elementwise_affine=False))",
         [(5, 8), (2, 2, 8)]),
    Case("norm_ln_nobias", "nn.Sequential(nn.LayerNorm(8, bias=False))", [(3, 8), (8,)]),
    Case("norm_ln_width1", "nn.Sequential(nn.LayerNorm(1))", [(4, 1)]),
    Case("norm_ln_long", "nn.Sequential(nn.LayerNorm(3000))", [(2, 3000)]),
    Case("norm_ln_shift", "nn.Sequential(nn.LayerNorm(64))", [(4, 64), (64,)],
         input_shift=100.0, atol=SHIFT_100_ATOL),
    Case("norm_ln_shift_large", "nn.Sequential(nn.LayerNorm((4, 33)))", [(3, 4, 33)],
         input_shift=1000.0, atol=SHIFT_1000_ATOL),
    Case("norm_ln_after_linear", "nn.Sequential(nn.Linear(6, 12), nn.LayerNorm(12), nn.GELU(), nn.Linear(12, 3))",
         [(4, 6), (2, 5, 6)]),
    # Conv2d's blocked output, batched and unbatched (a 3-D value in a 4-D layout).
    Case("norm_ln_conv", "nn.Sequential(nn.Conv2d(2, 4, 3), nn.LayerNorm([4, 5, 5]))", [(2, 2, 7, 7), (2, 7, 7)]),

    # GroupNorm on (N, C, *): 2-D to 5-D, one group, one channel per group.
    Case("norm_gn", "nn.Sequential(nn.GroupNorm(2, 6))", [(2, 6, 5, 5), (1, 6, 3, 7)]),
    Case("norm_gn_ranks", "nn.Sequential(nn.GroupNorm(3, 6))", [(4, 6), (2, 6, 7), (1, 6, 2, 3, 2)]),
    Case("norm_gn_one_group", "nn.Sequential(nn.GroupNorm(1, 4))", [(2, 4, 3, 3)]),
    Case("norm_gn_instance", "nn.Sequential(nn.GroupNorm(4, 4, eps=1e-3))", [(2, 4, 5, 3)]),
    # Without a weight PyTorch takes any channel count that splits into the groups.
    Case("norm_gn_noaffine", "nn.Sequential(nn.GroupNorm(2, 4, affine=False))", [(2, 4, 3, 3), (1, 6, 5)]),
    Case("norm_gn_kwargs",
         "nn.Sequential(nn.GroupNorm(num_groups=2, num_channels=4, eps=0.1, affine=True, device=None, dtype=None))",
         [(3, 4, 2)]),
    Case("norm_gn_shift", "nn.Sequential(nn.GroupNorm(2, 8))", [(2, 8, 4, 4)],
         input_shift=100.0, atol=SHIFT_100_ATOL),
    Case("norm_gn_conv", "nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GroupNorm(4, 8), nn.SiLU())",
         [(1, 3, 6, 6), (2, 3, 5, 7)]),
]
