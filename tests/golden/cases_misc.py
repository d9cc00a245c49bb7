"""Flatten, Unflatten, Softmax, LogSoftmax and PReLU: alone on ranks 0-5, after a Linear, and
after a Conv2d (whose blocked output layout they must read correctly, with BatchNorm folding
and activation fusion around them)."""
from golden import Case

CASES = [
    # Flatten: default (1, -1), explicit and negative dims, everything (0), no-op (d, d).
    Case("misc_flatten", "nn.Sequential(nn.Flatten())", [(2, 3, 4), (1, 5, 3, 3), (3, 7), (2, 3, 2, 2, 3)]),
    Case("misc_flatten_dims", "nn.Sequential(nn.Flatten(0, 2))", [(2, 3, 4, 5), (3, 5, 7), (1, 1, 9)]),
    Case("misc_flatten_negative", "nn.Sequential(nn.Flatten(start_dim=-3, end_dim=-2))",
         [(2, 3, 4, 5), (3, 5, 7), (2, 1, 3, 2, 5)]),
    Case("misc_flatten_all", "nn.Sequential(nn.Flatten(0))", [(9,), (2, 3), (3, 1, 5)]),
    Case("misc_flatten_noop", "nn.Sequential(nn.Flatten(1, 1), nn.Flatten(-1, -1))", [(2, 3, 4), (5, 2)]),
    # Unflatten with an inferred size, a negative dim, a list and torch.Size.
    Case("misc_unflatten", "nn.Sequential(nn.Unflatten(1, (2, -1)))", [(3, 12), (1, 8, 5), (2, 4, 3, 3)]),
    Case("misc_unflatten_negative_dim", "nn.Sequential(nn.Unflatten(-1, [3, 2, -1]))", [(2, 12), (12,), (1, 3, 6)]),
    Case("misc_unflatten_size", "nn.Sequential(nn.Unflatten(0, torch.Size([2, 3])), nn.Flatten(0, 1))", [(6,), (6, 4)]),
    Case("misc_unflatten_linear",
         "nn.Sequential(nn.Flatten(), nn.Linear(12, 20), nn.Unflatten(1, (4, 5)), nn.Softmax(dim=2))",
         [(3, 3, 4), (1, 2, 6)]),

    # Softmax / LogSoftmax over each dim of ranks 1-4, with large logits (exp overflows
    # unless the maximum is subtracted first).
    Case("misc_softmax_last", "nn.Sequential(nn.Softmax(dim=-1))", [(9,), (4, 10), (2, 3, 5), (2, 3, 4, 5)],
         input_scale=50.0),
    Case("misc_softmax_dim0", "nn.Sequential(nn.Softmax(dim=0))", [(9,), (4, 10), (3, 4, 5), (3, 2, 3, 5)],
         input_scale=50.0),
    Case("misc_softmax_dim1", "nn.Sequential(nn.Softmax(1))", [(4, 10), (2, 3, 5), (2, 6, 3, 5)],
         input_scale=50.0),
    Case("misc_softmax_dim2", "nn.Sequential(nn.Softmax(dim=2))", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 7, 3, 2)],
         input_scale=50.0),
    # dim=None: PyTorch's legacy rule (0 for ranks 0, 1 and 3, else 1).
    Case("misc_softmax_none", "nn.Sequential(nn.Softmax())", [(9,), (4, 10), (3, 4, 5), (2, 3, 4, 5)],
         input_scale=50.0),
    Case("misc_softmax_small", "nn.Sequential(nn.Softmax(dim=-1))", [(3, 1000), (1, 1)]),
    Case("misc_log_softmax_last", "nn.Sequential(nn.LogSoftmax(dim=-1))", [(9,), (4, 10), (2, 3, 5), (2, 3, 4, 5)],
         input_scale=50.0),
    Case("misc_log_softmax_dim0", "nn.Sequential(nn.LogSoftmax(dim=0))", [(9,), (4, 10), (3, 4, 5), (3, 2, 3, 5)],
         input_scale=50.0),
    Case("misc_log_softmax_dim1", "nn.Sequential(nn.LogSoftmax(dim=1))", [(4, 10), (2, 3, 5), (2, 6, 3, 5)],
         input_scale=50.0),
    Case("misc_log_softmax_dim2", "nn.Sequential(nn.LogSoftmax(dim=-2))", [(2, 3, 5), (2, 3, 4, 5)],
         input_scale=50.0),
    Case("misc_log_softmax_none", "nn.Sequential(nn.LogSoftmax())", [(9,), (4, 10), (3, 4, 5), (2, 3, 4, 5)],
         input_scale=50.0),
    Case("misc_softmax_after_linear",
         "nn.Sequential(nn.Linear(16, 10), nn.ReLU(), nn.Linear(10, 7), nn.Softmax(dim=1))",
         [(1, 16), (5, 16)], input_scale=5.0),
    Case("misc_log_softmax_after_linear", "nn.Sequential(nn.Linear(16, 10), nn.LogSoftmax(dim=-1))",
         [(1, 16), (16,), (2, 3, 16)], input_scale=5.0),
    Case("misc_softmax_chain", "nn.Sequential(nn.Softmax(dim=0), nn.LogSoftmax(dim=1), nn.Softmax(dim=-1))",
         [(3, 4, 5), (2, 7)], input_scale=10.0),

    # PReLU: one weight (any rank, even a scalar) and one per channel of dim 1.
    Case("misc_prelu_single", "nn.Sequential(nn.PReLU())", [(9,), (4, 7), (2, 3, 5, 7)], input_scale=3.0),
    Case("misc_prelu_channels", "nn.Sequential(nn.PReLU(3))", [(4, 3), (2, 3, 5, 7), (1, 3, 4), (2, 3, 2, 2, 3)],
         input_scale=3.0),
    Case("misc_prelu_kwargs", "nn.Sequential(nn.PReLU(num_parameters=4, init=0.1, device=None, dtype=None))",
         [(2, 4, 3), (1, 4)], input_scale=3.0),
    Case("misc_prelu_after_linear",
         "nn.Sequential(nn.Linear(7, 6), nn.PReLU(6), nn.Linear(6, 3), nn.PReLU())",
         [(4, 7), (1, 7)], input_scale=3.0),
    Case("misc_prelu_single_after_linear", "nn.Sequential(nn.Linear(7, 6), nn.PReLU(), nn.Linear(6, 3))",
         [(4, 7), (7,), (2, 3, 7)], input_scale=3.0),
    Case("misc_prelu_softmax", "nn.Sequential(nn.Softmax(dim=2), nn.PReLU(3), nn.Flatten())",
         [(2, 3, 4, 5)], input_scale=3.0),

    # After a Conv2d: blocked layouts (20 channels pad a 16-channel block), reorders to plain
    # for Flatten, fused BatchNorm and activations, unbatched (C, H, W) inputs.
    Case("misc_conv_flatten_linear",
         "nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(200, 10))",
         [(1, 3, 7, 7), (2, 3, 7, 7)]),
    Case("misc_conv_classifier",
         "nn.Sequential(nn.Conv2d(3, 20, 3, padding=1), nn.BatchNorm2d(20), nn.ReLU(), nn.Flatten(),"
         " nn.Linear(600, 10), nn.LogSoftmax(dim=1))",
         [(1, 3, 5, 6), (3, 3, 5, 6)]),
    Case("misc_conv_flatten_unbatched",
         "nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(0), nn.Linear(100, 6))", [(3, 7, 7)]),
    Case("misc_conv_softmax_channels", "nn.Sequential(nn.Conv2d(3, 20, 3), nn.Softmax(dim=1))",
         [(1, 3, 7, 9), (2, 3, 5, 5)], input_scale=10.0),
    Case("misc_conv_softmax_width", "nn.Sequential(nn.Conv2d(3, 20, 3), nn.LogSoftmax(dim=-1))",
         [(1, 3, 7, 9), (2, 3, 5, 5)], input_scale=10.0),
    Case("misc_conv_softmax_unbatched", "nn.Sequential(nn.Conv2d(3, 20, 3), nn.Softmax(dim=0))",
         [(3, 7, 9)], input_scale=10.0),
    Case("misc_conv_prelu",
         "nn.Sequential(nn.Conv2d(3, 20, 3), nn.PReLU(20), nn.Conv2d(20, 8, 1), nn.BatchNorm2d(8), nn.PReLU())",
         [(1, 3, 7, 9), (2, 3, 5, 5)], input_scale=3.0),
    Case("misc_conv_prelu_unbatched", "nn.Sequential(nn.Conv2d(3, 20, 3), nn.PReLU(), nn.Softmax(dim=-3))",
         [(3, 7, 9)], input_scale=3.0),
    # Unbatched, PReLU's channel dim 1 (here H) is dim 2 of the Conv's 4-D md, which oneDNN's
    # PReLU cannot broadcast along quickly: it goes plain (3-D, as the logical shape) first.
    Case("misc_conv_softmax_prelu_unbatched",
         "nn.Sequential(nn.Conv2d(3, 4, 3), nn.Softmax(dim=-1), nn.PReLU(5))", [(3, 7, 9)]),
    Case("misc_conv_unflatten",
         "nn.Sequential(nn.Conv2d(2, 6, 3), nn.Unflatten(1, (2, 3)), nn.Flatten(1, 2), nn.PReLU(6))",
         [(1, 2, 6, 5), (2, 2, 4, 4)], input_scale=3.0),
]
