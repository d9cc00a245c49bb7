"""NaN, +Inf and -Inf inputs (issue 13): every module must give what PyTorch gives, standalone
and fused. After a Linear a special input makes its whole output row non-finite (NaN, or
+-Inf by the weights' signs), so a fused post-op sees NaN and both infinities; after a Conv2d
they spread over a kernel-sized patch of finite values."""
from golden import Case

ACTIVATIONS = [
    ("relu", "nn.ReLU()"),
    ("relu6", "nn.ReLU6()"),
    ("leaky_relu", "nn.LeakyReLU(0.2)"),
    ("elu", "nn.ELU(alpha=0.7)"),
    ("selu", "nn.SELU()"),
    ("celu", "nn.CELU(alpha=1.5)"),
    ("gelu", "nn.GELU()"),
    ("gelu_tanh", "nn.GELU(approximate='tanh')"),
    ("silu", "nn.SiLU()"),
    ("mish", "nn.Mish()"),
    ("sigmoid", "nn.Sigmoid()"),
    ("tanh", "nn.Tanh()"),
    ("hardswish", "nn.Hardswish()"),
    ("hardsigmoid", "nn.Hardsigmoid()"),
    ("hardtanh", "nn.Hardtanh(-2.0, 2.5)"),
    ("softplus", "nn.Softplus()"),
    ("softsign", "nn.Softsign()"),
    ("tanhshrink", "nn.Tanhshrink()"),
    ("logsigmoid", "nn.LogSigmoid()"),
    ("prelu", "nn.PReLU()"),
]

CASES = []
for name, act in ACTIVATIONS:
    CASES.append(Case(f"nan_{name}", f"nn.Sequential({act})", [(4, 50), (3, 5, 7)], input_scale=4.0,
                      specials=24))
    CASES.append(Case(f"nan_{name}_after_linear", f"nn.Sequential(nn.Linear(7, 6), {act})",
                      [(8, 7), (2, 5, 7)], input_scale=3.0, specials=3))
    CASES.append(Case(f"nan_{name}_after_conv", f"nn.Sequential(nn.Conv2d(3, 20, 3), {act})",
                      [(2, 3, 9, 8), (3, 7, 8)], input_scale=3.0, specials=4))

CASES += [
    Case("nan_softmax", "nn.Sequential(nn.Softmax(dim=-1))", [(6, 5), (4, 3, 4)], specials=8),
    Case("nan_softmax_dim0", "nn.Sequential(nn.Softmax(dim=0))", [(6, 5), (4, 3, 4)], specials=8),
    Case("nan_log_softmax", "nn.Sequential(nn.LogSoftmax(dim=-1))", [(6, 5), (4, 3, 4)], specials=8),
    Case("nan_log_softmax_dim0", "nn.Sequential(nn.LogSoftmax(dim=0))", [(6, 5), (4, 3, 4)], specials=8),
    Case("nan_softmax_after_conv", "nn.Sequential(nn.Conv2d(3, 20, 3), nn.Softmax(dim=1))", [(2, 3, 9, 8)],
         specials=3),
    Case("nan_bn2d", "nn.Sequential(nn.BatchNorm2d(4))", [(2, 4, 5, 5)], specials=10),
    Case("nan_bn1d_after_linear", "nn.Sequential(nn.Linear(7, 6), nn.BatchNorm1d(6), nn.ReLU())", [(8, 7)],
         specials=3),
    Case("nan_bn2d_after_conv", "nn.Sequential(nn.Conv2d(3, 20, 3), nn.BatchNorm2d(20), nn.ReLU())",
         [(2, 3, 9, 8)], specials=3),
    Case("nan_layer_norm", "nn.Sequential(nn.LayerNorm(6))", [(8, 6), (2, 7, 6)], specials=5),
    Case("nan_group_norm", "nn.Sequential(nn.GroupNorm(2, 4))", [(6, 4, 3), (2, 4, 2, 3)], specials=3),
    Case("nan_linear_chain", "nn.Sequential(nn.Linear(7, 6), nn.ReLU(), nn.Linear(6, 5), nn.Tanh())", [(8, 7)],
         specials=3),
]

# The activations issue 10 adds.
for name, act in [("hardshrink", "nn.Hardshrink()"), ("softshrink", "nn.Softshrink()"),
                  ("threshold", "nn.Threshold(0.1, 20)"), ("rrelu", "nn.RReLU()"),
                  ("leaky_relu_zero", "nn.LeakyReLU(0.0)"), ("glu", "nn.GLU(-1)")]:
    CASES.append(Case(f"nan_{name}", f"nn.Sequential({act})", [(4, 50), (3, 7, 6)], input_scale=4.0,
                      specials=24))
    CASES.append(Case(f"nan_{name}_after_linear", f"nn.Sequential(nn.Linear(7, 6), {act})",
                      [(8, 7), (2, 5, 7)], input_scale=3.0, specials=3))
    CASES.append(Case(f"nan_{name}_after_conv", f"nn.Sequential(nn.Conv2d(3, 20, 3), {act})",
                      [(2, 3, 9, 8), (3, 7, 8)], input_scale=3.0, specials=4))
CASES += [
    Case("nan_softmin", "nn.Sequential(nn.Softmin(dim=-1))", [(6, 5), (4, 3, 4)], specials=8),
    Case("nan_softmax2d", "nn.Sequential(nn.Softmax2d())", [(2, 4, 3, 5), (4, 3, 4)], specials=8),
    Case("nan_log_softmax_after_conv", "nn.Sequential(nn.Conv2d(3, 20, 3), nn.LogSoftmax(dim=1))", [(2, 3, 9, 8)],
         specials=3),
]

# oneDNN runs some convolutions (here grouped and depthwise Conv1d) as gemm with its own
# post-op code: fused activations must keep NaN there too.
for name, act in [("relu", "nn.ReLU()"), ("sigmoid", "nn.Sigmoid()"), ("gelu", "nn.GELU()"),
                  ("elu", "nn.ELU()"), ("tanh", "nn.Tanh()"), ("silu", "nn.SiLU()"),
                  ("leaky_relu", "nn.LeakyReLU(0.1)")]:
    CASES.append(Case(f"nan_{name}_after_gemm_conv",
                      f"nn.Sequential(nn.Conv1d(4, 8, 5, stride=2, padding=2, dilation=2, groups=2), {act},"
                      f" nn.Conv1d(8, 8, 7, padding=3, groups=8), {act})",
                      [(2, 4, 19)], input_scale=3.0, specials=3))
