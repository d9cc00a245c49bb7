"""Linear on (*, in_features), with and without bias, and with BatchNorm1d folded in."""
from golden import Case

CASES = [
    Case("linear", "nn.Sequential(nn.Linear(20, 30))", [(1, 20), (5, 20), (20,), (2, 3, 20)]),
    Case("linear_no_bias", "nn.Sequential(nn.Linear(8, 3, bias=False))", [(4, 8), (8,)]),
    Case("linear_kwargs", "nn.Sequential(nn.Linear(in_features=6, out_features=2, bias=True, device=None))",
         [(3, 6)]),
    Case("mlp", "nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))",
         [(1, 64), (16, 64)]),
    Case("linear_bn1d", "nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4))",
         [(1, 12), (6, 12)]),
    Case("linear_nobias_bn1d", "nn.Sequential(nn.Linear(12, 16, bias=False), nn.BatchNorm1d(16), nn.Linear(16, 4))",
         [(3, 12)]),
    # (N, L, C) -> BatchNorm1d normalises dim 1 (L), so it must not be folded into the Linear.
    Case("linear_3d_bn1d", "nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(4))", [(2, 4, 5)]),
]
