"""Activations and no-op modules, alone (standalone eltwise/kernels) and after a Linear
(fused as post-ops when the engine fuses)."""
from golden import Case

SHAPES = [(2, 3, 5, 7), (1, 17), (9,)]

ACTIVATIONS = [
    ("relu", "nn.ReLU()"),
    ("relu6", "nn.ReLU6(inplace=True)"),
    ("leaky_relu", "nn.LeakyReLU(0.2)"),
    ("leaky_relu_default", "nn.LeakyReLU()"),
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
    ("softplus_beta", "nn.Softplus(beta=2, threshold=3)"),
    ("softsign", "nn.Softsign()"),
    ("tanhshrink", "nn.Tanhshrink()"),
    ("logsigmoid", "nn.LogSigmoid()"),
]

CASES = []
for name, act in ACTIVATIONS:
    # Large inputs reach the saturated and thresholded regions (e.g. LogSigmoid(-40)).
    CASES.append(Case(f"act_{name}", f"nn.Sequential({act})", SHAPES, input_scale=4.0))
    CASES.append(Case(f"act_{name}_after_linear",
                      f"nn.Sequential(nn.Linear(7, 6), {act}, nn.Linear(6, 3), {act})",
                      [(4, 7), (7,), (2, 3, 7)], input_scale=3.0))

CASES += [
    Case("act_chain", "nn.Sequential(nn.Tanh(), nn.ReLU6(), nn.Softsign(), nn.SELU())", SHAPES,
         input_scale=4.0),
    Case("act_extreme", "nn.Sequential(nn.Linear(3, 3), nn.LogSigmoid(), nn.Linear(3, 3), nn.Softplus(),"
         " nn.Linear(3, 3), nn.Mish(), nn.Linear(3, 3), nn.GELU())", [(5, 3)], input_scale=40.0),
    Case("identity_and_dropout",
         "nn.Sequential(nn.Identity(54, unused=0.1), nn.Dropout(p=0.3), nn.Linear(5, 4),"
         " nn.Dropout1d(), nn.Dropout2d(0.1), nn.AlphaDropout(0.2), nn.ReLU())",
         [(2, 5), (3, 2, 5)]),
    Case("empty_sequential", "nn.Sequential()", [(2, 3)]),
    Case("only_identity", "nn.Sequential(nn.Identity(), nn.Dropout())", [(2, 3)]),
]

CASES += [
    # Two eltwise_linear post-ops in one chain (Hardsigmoid, then SELU; CELU alone has two),
    # which oneDNN 2.6 computes wrongly when fused: the compiler must split the chain.
    Case("act_two_linears_after_linear", "nn.Sequential(nn.Linear(5, 6), nn.Hardsigmoid(), nn.SELU(),"
         " nn.Linear(6, 4), nn.CELU(0.5), nn.Hardswish())", [(3, 5), (5,)], input_scale=3.0),
]
