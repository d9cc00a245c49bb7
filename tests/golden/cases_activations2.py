"""The activations issue 10 adds (Hardshrink, Softshrink, Threshold, RReLU in eval, GLU,
Softmin, Softmax2d), alone on several ranks, after a Linear (fused where they fuse), and after
a Conv2d (whose blocked output the elementwise kernels run on in place when f(0) == 0)."""
from golden import Case

SHAPES = [(2, 3, 5, 7), (1, 17), (9,)]

ELEMENTWISE = [
    ("hardshrink", "nn.Hardshrink()"),
    ("hardshrink_lambd", "nn.Hardshrink(lambd=1.7)"),
    ("softshrink", "nn.Softshrink()"),
    ("softshrink_lambd", "nn.Softshrink(2)"),
    ("softshrink_zero", "nn.Softshrink(0.0)"),
    ("threshold", "nn.Threshold(0.1, 20)"),
    ("threshold_kwargs", "nn.Threshold(threshold=-0.5, value=-2.0, inplace=True)"),
    # Threshold above 0 maps 0 to `value`: runs on plain layout after a Conv2d.
    ("threshold_positive", "nn.Threshold(0.5, 3.0)"),
    ("rrelu", "nn.RReLU()"),
    ("rrelu_bounds", "nn.RReLU(0.1, 0.3, inplace=False)"),
    ("rrelu_zero", "nn.RReLU(0.0, 0.0)"),
    ("leaky_relu_zero", "nn.LeakyReLU(0.0)"),
]

CASES = []
for name, act in ELEMENTWISE:
    CASES.append(Case(f"act2_{name}", f"nn.Sequential({act})", SHAPES, input_scale=3.0))
    CASES.append(Case(f"act2_{name}_after_linear",
                      f"nn.Sequential(nn.Linear(7, 6), {act}, nn.Linear(6, 3), {act})",
                      [(4, 7), (7,), (2, 3, 7)], input_scale=3.0))
    CASES.append(Case(f"act2_{name}_after_conv",
                      f"nn.Sequential(nn.Conv2d(3, 20, 3), {act}, nn.Conv2d(20, 5, 1))",
                      [(2, 3, 7, 6), (3, 5, 5)], input_scale=3.0))

CASES += [
    # A PReLU whose single weight is 0 (no randomised init): NaN must survive fusion.
    Case("act2_prelu_zero_after_linear", "nn.Sequential(nn.Linear(7, 6), nn.PReLU(init=0.0))", [(4, 7)],
         init="none", specials=2),
    Case("act2_prelu_zero", "nn.Sequential(nn.PReLU(init=0.0))", [(4, 9)], init="none", specials=6),
    # GLU: every dim, negative dims, after a Linear and a Conv2d's blocked output.
    Case("act2_glu", "nn.Sequential(nn.GLU())", [(4, 10), (2, 3, 8), (6,)], input_scale=4.0),
    Case("act2_glu_dim1", "nn.Sequential(nn.GLU(1))", [(4, 10), (2, 6, 3), (1, 4, 3, 5)], input_scale=4.0),
    Case("act2_glu_dim0", "nn.Sequential(nn.GLU(dim=0))", [(4, 10), (2, 6, 3), (6,)], input_scale=4.0),
    Case("act2_glu_negative", "nn.Sequential(nn.GLU(-3))", [(4, 2, 5), (2, 6, 3, 3)], input_scale=4.0),
    Case("act2_glu_large", "nn.Sequential(nn.GLU())", [(3, 200)], input_scale=30.0),
    Case("act2_glu_after_linear", "nn.Sequential(nn.Linear(5, 8), nn.GLU(), nn.Linear(4, 2))", [(3, 5), (5,)]),
    Case("act2_glu_after_conv", "nn.Sequential(nn.Conv2d(3, 20, 3), nn.GLU(1), nn.ReLU())", [(2, 3, 6, 5)]),
    # Softmin: explicit, negative and implicit dims (PyTorch's legacy rule, as Softmax).
    Case("act2_softmin", "nn.Sequential(nn.Softmin(dim=1))", [(4, 10), (2, 3, 5), (2, 6, 3, 5)], input_scale=30.0),
    Case("act2_softmin_last", "nn.Sequential(nn.Softmin(-1))", [(9,), (4, 10), (2, 3, 4, 5)], input_scale=30.0),
    Case("act2_softmin_none", "nn.Sequential(nn.Softmin())", [(9,), (4, 10), (3, 4, 5), (2, 3, 4, 5)],
         input_scale=30.0),
    Case("act2_softmin_after_conv", "nn.Sequential(nn.Conv2d(3, 20, 3), nn.Softmin(1))", [(2, 3, 7, 6), (3, 5, 5)],
         input_scale=5.0),
    # Softmax2d: over dim -3 of 3-D and 4-D input, also on a Conv's blocked channels.
    Case("act2_softmax2d", "nn.Sequential(nn.Softmax2d())", [(2, 3, 5, 7), (4, 3, 5), (1, 1, 2, 2)],
         input_scale=10.0),
    Case("act2_softmax2d_after_conv", "nn.Sequential(nn.Conv2d(3, 20, 3), nn.Softmax2d())", [(2, 3, 7, 6), (3, 5, 5)],
         input_scale=5.0),
    Case("act2_softmax2d_after_conv16", "nn.Sequential(nn.Conv2d(3, 32, 1), nn.Softmax2d())", [(1, 3, 4, 4)],
         input_scale=5.0),
    Case("act2_log_softmax_after_conv", "nn.Sequential(nn.Conv2d(3, 20, 3), nn.LogSoftmax(dim=1))",
         [(2, 3, 7, 6), (3, 5, 5)], input_scale=5.0),
    Case("act2_log_softmax_after_conv1d", "nn.Sequential(nn.Conv1d(3, 12, 3), nn.LogSoftmax(dim=-2))",
         [(2, 3, 9), (3, 7)], input_scale=5.0),
]
