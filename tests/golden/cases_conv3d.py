"""Conv3d and ConvTranspose3d: every argument (tuples, padding strings, every padding_mode,
groups, dilation, output_padding), batched and unbatched inputs at odd sizes, activations
fused as post-ops, and chains that stay in oneDNN's blocked layout (a padding_mode pad and a
max pool between convolutions, with 20 channels so the last channel block is padded).
BatchNorm3d folding lives with BatchNorm3d's own cases."""
from golden import Case

CASES = [
    Case("conv3d", "nn.Sequential(nn.Conv3d(2, 4, 3), nn.ReLU())",
         [(1, 2, 5, 6, 7), (2, 2, 4, 5, 3), (2, 5, 5, 5)]),
    Case("conv3d_kwargs",
         "nn.Sequential(nn.Conv3d(in_channels=4, out_channels=6, kernel_size=(2, 3, 1), stride=(1, 2, 1),"
         " padding=(1, 0, 1), dilation=(1, 1, 2), groups=2, bias=False, padding_mode='zeros', device=None,"
         " dtype=None))",
         [(2, 4, 5, 7, 6), (4, 3, 3, 5)]),
    Case("conv3d_stride_pad", "nn.Sequential(nn.Conv3d(3, 8, 3, stride=2, padding=1), nn.Tanh())",
         [(1, 3, 9, 8, 7), (2, 3, 5, 6, 5), (3, 7, 7, 7)]),
    Case("conv3d_same_even", "nn.Sequential(nn.Conv3d(3, 4, (2, 3, 4), padding='same', dilation=(2, 1, 1)))",
         [(2, 3, 5, 6, 7), (3, 4, 4, 5)]),
    Case("conv3d_valid", "nn.Sequential(nn.Conv3d(2, 3, (1, 2, 3), padding='valid'))",
         [(2, 2, 3, 4, 5), (2, 1, 2, 3)]),
    Case("conv3d_depthwise", "nn.Sequential(nn.Conv3d(4, 8, 3, groups=4, padding=1), nn.ReLU6())",
         [(2, 4, 5, 6, 4), (4, 3, 4, 5)]),
    Case("conv3d_reflect", "nn.Sequential(nn.Conv3d(2, 3, 3, padding=(1, 2, 1), padding_mode='reflect'))",
         [(2, 2, 4, 5, 3), (1, 2, 2, 3, 2), (2, 3, 4, 5)]),
    Case("conv3d_replicate", "nn.Sequential(nn.Conv3d(2, 3, 3, padding=(2, 1, 3), padding_mode='replicate'))",
         [(2, 2, 4, 5, 3), (1, 2, 1, 1, 1), (2, 3, 4, 5)]),
    # PyTorch 1.13 pads circularly only batched input (2.x also unbatched: see conv_test).
    Case("conv3d_circular", "nn.Sequential(nn.Conv3d(2, 3, 3, padding=(1, 2, 3), padding_mode='circular'))",
         [(2, 2, 4, 5, 3), (1, 2, 1, 2, 3)]),
    # A pad step and pools between convolutions on the blocked layout, 20 channels.
    Case("conv3d_blocked_chain",
         "nn.Sequential(nn.Conv3d(3, 20, 3, padding=1), nn.ReLU(), nn.Conv3d(20, 20, 3, padding=1,"
         " padding_mode='reflect'), nn.GELU(), nn.MaxPool3d(2, ceil_mode=True), nn.Conv3d(20, 16, 1),"
         " nn.Conv3d(16, 16, 3, padding=1, padding_mode='circular'), nn.AvgPool3d(2, 1, 1))",
         [(1, 3, 6, 7, 5), (2, 3, 5, 4, 6)]),
    Case("conv3d_first_layer_wide", "nn.Sequential(nn.Conv3d(1, 32, (3, 5, 5), padding=(1, 2, 2)), nn.SiLU(),"
         " nn.Conv3d(32, 16, 1), nn.Sigmoid())",
         [(2, 1, 4, 9, 8), (1, 5, 6, 7)]),
    # ConvTranspose3d.
    Case("conv_transpose3d", "nn.Sequential(nn.ConvTranspose3d(4, 3, 3, stride=2, padding=1, output_padding=1))",
         [(2, 4, 3, 4, 5), (1, 4, 1, 1, 1), (4, 2, 3, 3)]),
    Case("conv_transpose3d_args",
         "nn.Sequential(nn.ConvTranspose3d(4, 6, (3, 2, 2), stride=(2, 3, 1), padding=(1, 0, 1),"
         " output_padding=(1, 2, 0), groups=2, dilation=(1, 2, 2), bias=False), nn.ReLU())",
         [(2, 4, 3, 4, 3), (4, 2, 3, 2)]),
    # output_padding >= stride (allowed as it is < dilation): past oneDNN's padding limit.
    Case("conv_transpose3d_dilated_output_padding",
         "nn.Sequential(nn.ConvTranspose3d(3, 4, (2, 3, 2), dilation=3, output_padding=(2, 1, 2)), nn.ELU())",
         [(2, 3, 2, 3, 4), (3, 2, 2, 2)]),
    Case("conv3d_autoencoder",
         "nn.Sequential(nn.Conv3d(1, 8, 3, stride=2, padding=1), nn.ReLU(), nn.ConvTranspose3d(8, 8, 3,"
         " stride=2, padding=1, output_padding=1), nn.ReLU(), nn.Conv3d(8, 1, 3, padding=1), nn.Sigmoid())",
         [(2, 1, 6, 8, 8), (1, 4, 6, 5)]),
]
