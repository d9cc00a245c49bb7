"""Unfold and Fold: kernel, dilation, padding and stride (ints and tuples), batched and
unbatched inputs at odd sizes, a block round trip, and Unfold after a convolution (blocked
layout)."""
from golden import Case

CASES = [
    Case("unfold", "nn.Sequential(nn.Unfold(3))", [(1, 2, 5, 6), (2, 3, 4, 3), (2, 7, 5)]),
    Case("unfold_args",
         "nn.Sequential(nn.Unfold(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1)))",
         [(2, 3, 7, 6), (3, 5, 9)]),
    Case("unfold_strided_padded", "nn.Sequential(nn.Unfold((3, 2), 2, (2, 1), 3))",
         [(1, 2, 9, 7), (2, 6, 6)]),
    Case("fold", "nn.Sequential(nn.Fold((5, 6), 2))", [(2, 12, 20), (8, 20)]),
    Case("fold_args",
         "nn.Sequential(nn.Fold(output_size=(7, 5), kernel_size=(3, 2), dilation=(1, 2), padding=(1, 0),"
         " stride=(2, 1)))",
         [(2, 12, 12), (18, 12)]),
    Case("fold_overlap_strided", "nn.Sequential(nn.Fold(9, 3, padding=1, stride=2))",
         [(1, 9, 25), (3, 18, 25)]),
    Case("unfold_fold_roundtrip",
         "nn.Sequential(nn.Unfold(3, padding=1, stride=2), nn.Fold((7, 9), 3, padding=1, stride=2))",
         [(2, 3, 7, 9), (4, 7, 9)]),
    Case("unfold_after_conv", "nn.Sequential(nn.Conv2d(2, 20, 3), nn.ReLU(), nn.Unfold(2, stride=2))",
         [(2, 2, 7, 6), (2, 9, 8)]),
]
