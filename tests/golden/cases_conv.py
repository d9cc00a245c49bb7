"""Conv1d, Conv2d, ConvTranspose1d and ConvTranspose2d: the seed model, every argument
(tuples, padding strings and modes, groups, dilation, output_padding), batched and
unbatched inputs, and the fusions (BatchNorm folded into weights and bias, activations as
post-ops, a BatchNorm that must not be folded)."""
from golden import Case

CASES = [
    # The seed's own example, at MNIST size, an odd size with batch 3, and unbatched.
    Case("conv_seed", """nn.Sequential(
          nn.Conv2d(1,20,5),
          nn.ReLU(),
          nn.Conv2d(20,64,5),
          nn.ReLU()
        )""", [(1, 1, 28, 28), (3, 1, 17, 23), (1, 28, 28)]),
    Case("conv_kwargs",
         "nn.Sequential(nn.Conv2d(in_channels=3, out_channels=4, kernel_size=(3, 3), stride=1, padding=0,"
         " dilation=1, groups=1, bias=True, padding_mode='zeros', device=None, dtype=None))",
         [(2, 3, 6, 5)]),
    Case("conv_no_bias", "nn.Sequential(nn.Conv2d(3, 5, 3, bias=False), nn.Tanh())", [(2, 3, 7, 6), (3, 5, 5)]),
    # Fusion: BatchNorm folded (with and without conv bias), activations as post-ops.
    Case("conv_bn_relu",
         "nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 3))",
         [(2, 3, 9, 11), (1, 3, 7, 7)]),
    Case("conv_nobias_bn_relu6",
         "nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),"
         " nn.Conv2d(16, 16, 1, bias=False), nn.BatchNorm2d(16))",
         [(2, 3, 11, 9), (1, 3, 8, 8)], input_scale=2.0),
    Case("conv_bn_dropout_gelu",
         "nn.Sequential(nn.Conv2d(4, 6, 3), nn.Dropout2d(0.1), nn.BatchNorm2d(6), nn.Identity(), nn.GELU(),"
         " nn.SiLU())",
         [(2, 4, 6, 7)]),
    # ReLU between Conv and BatchNorm: the BatchNorm must not be folded.
    Case("conv_relu_bn",
         "nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.BatchNorm2d(8), nn.Conv2d(8, 2, 1))",
         [(2, 3, 8, 8), (1, 3, 5, 9)]),
    # A kernel activation (no oneDNN eltwise) between convolutions: blocked -> plain -> blocked.
    Case("conv_softsign_conv",
         "nn.Sequential(nn.Conv2d(3, 20, 3), nn.Softsign(), nn.Conv2d(20, 7, 3, padding=1), nn.Sigmoid())",
         [(2, 3, 7, 8), (3, 6, 6)]),
    # Geometry.
    Case("conv_stride_pad_dilation",
         "nn.Sequential(nn.Conv2d(3, 6, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2)))",
         [(2, 3, 11, 13), (1, 3, 7, 9), (3, 11, 13)]),
    Case("conv_padding_beyond_kernel", "nn.Sequential(nn.Conv2d(2, 3, 3, stride=3, padding=4))",
         [(1, 2, 5, 6), (2, 1, 1)]),
    Case("conv_kernel_equals_input", "nn.Sequential(nn.Conv2d(2, 5, (4, 3)), nn.ReLU())",
         [(3, 2, 4, 3), (2, 4, 3)]),
    Case("conv_stride_2x3", "nn.Sequential(nn.Conv2d(16, 32, 3, stride=(2, 3)), nn.ReLU(), nn.Conv2d(32, 16, 1))",
         [(1, 16, 9, 10), (2, 16, 7, 7)]),
    # Groups and depthwise (with a channel multiplier; a MobileNet block).
    Case("conv_groups", "nn.Sequential(nn.Conv2d(6, 9, 3, groups=3, padding=1))",
         [(2, 6, 7, 9), (6, 5, 5)]),
    Case("conv_groups_wide", "nn.Sequential(nn.Conv2d(32, 32, 3, groups=2, padding=1), nn.ReLU())",
         [(2, 32, 5, 6)]),
    Case("conv_depthwise",
         "nn.Sequential(nn.Conv2d(8, 8, 3, groups=8, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),"
         " nn.Conv2d(8, 16, 1), nn.BatchNorm2d(16))",
         [(1, 8, 9, 9), (2, 8, 6, 7)]),
    Case("conv_depthwise_multiplier", "nn.Sequential(nn.Conv2d(4, 12, 3, groups=4, stride=2))",
         [(2, 4, 9, 8), (4, 5, 5)]),
    Case("conv_depthwise_wide", "nn.Sequential(nn.Conv2d(32, 32, 5, groups=32, padding=2), nn.Hardswish())",
         [(2, 32, 7, 6)]),
    # Padding strings; 'same' with even kernels pads the extra element after, as PyTorch.
    Case("conv_same_odd", "nn.Sequential(nn.Conv2d(3, 4, 3, padding='same'))", [(2, 3, 6, 7), (3, 5, 5)]),
    Case("conv_same_even", "nn.Sequential(nn.Conv2d(3, 4, 4, padding='same'))", [(2, 3, 6, 7), (3, 5, 4)]),
    Case("conv_same_dilated", "nn.Sequential(nn.Conv2d(3, 4, (2, 4), padding='same', dilation=(3, 1)))",
         [(2, 3, 6, 7)]),
    Case("conv_valid", "nn.Sequential(nn.Conv2d(3, 4, (3, 2), padding='valid'))", [(2, 3, 6, 7), (3, 3, 2)]),
    # padding_mode: an explicit pad step, then a zero-padding convolution.
    Case("conv_reflect", "nn.Sequential(nn.Conv2d(3, 4, 3, padding=(1, 2), padding_mode='reflect'), nn.ReLU())",
         [(2, 3, 6, 7), (1, 3, 2, 3), (3, 6, 7)]),
    Case("conv_replicate", "nn.Sequential(nn.Conv2d(3, 4, 3, padding=(2, 1), padding_mode='replicate'))",
         [(2, 3, 6, 7), (1, 3, 1, 1), (3, 6, 7)]),
    # PyTorch 1.13 pads circularly only batched input (2.x also unbatched: see conv_test).
    Case("conv_circular", "nn.Sequential(nn.Conv2d(3, 4, 3, padding=(1, 2), padding_mode='circular'))",
         [(2, 3, 6, 7), (1, 3, 2, 2)]),
    Case("conv_reflect_same_even",
         "nn.Sequential(nn.Conv2d(2, 3, 4, padding='same', padding_mode='reflect'), nn.ReLU(),"
         " nn.Conv2d(3, 3, 3, padding=1, padding_mode='reflect', stride=2))",
         [(2, 2, 7, 6)]),
    Case("conv_modes_chain",
         "nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, padding_mode='replicate'), nn.BatchNorm2d(16), nn.ReLU(),"
         " nn.Conv2d(16, 16, 3, padding=1, padding_mode='circular'), nn.ReLU())",
         [(2, 3, 8, 9)]),
    # Conv1d.
    Case("conv1d", "nn.Sequential(nn.Conv1d(4, 6, 3), nn.ReLU())", [(2, 4, 10), (1, 4, 3), (4, 10)]),
    Case("conv1d_args",
         "nn.Sequential(nn.Conv1d(4, 8, 5, stride=2, padding=2, dilation=2, groups=2, bias=False))",
         [(2, 4, 13), (4, 9)]),
    Case("conv1d_bn_relu",
         "nn.Sequential(nn.Conv1d(3, 16, 3, padding=1), nn.BatchNorm1d(16), nn.ReLU(), nn.Conv1d(16, 4, 1))",
         [(2, 3, 11), (1, 3, 5)]),
    Case("conv1d_same_even", "nn.Sequential(nn.Conv1d(2, 3, 4, padding='same', dilation=1))", [(2, 2, 9), (2, 9)]),
    Case("conv1d_reflect", "nn.Sequential(nn.Conv1d(2, 3, 3, padding=2, padding_mode='reflect'))",
         [(2, 2, 9), (2, 3)]),
    Case("conv1d_replicate", "nn.Sequential(nn.Conv1d(2, 3, 3, padding=3, padding_mode='replicate'))",
         [(2, 2, 9), (2, 1)]),
    Case("conv1d_circular", "nn.Sequential(nn.Conv1d(2, 3, 3, padding=3, padding_mode='circular'))",
         [(2, 2, 9), (1, 2, 3)]),
    Case("conv1d_depthwise", "nn.Sequential(nn.Conv1d(16, 16, 7, groups=16, padding=3), nn.GELU())",
         [(2, 16, 12), (16, 5)]),
    # ConvTranspose2d.
    Case("conv_transpose2d",
         "nn.Sequential(nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1))",
         [(2, 4, 5, 6), (1, 4, 3, 3), (4, 3, 5)]),
    Case("conv_transpose2d_default", "nn.Sequential(nn.ConvTranspose2d(4, 3, 3), nn.ReLU())",
         [(2, 4, 1, 1), (4, 3, 5)]),
    Case("conv_transpose2d_args",
         "nn.Sequential(nn.ConvTranspose2d(4, 6, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2),"
         " groups=2, dilation=(1, 2)))",
         [(2, 4, 5, 4), (4, 3, 3)]),
    # output_padding >= stride (allowed as it is < dilation): past oneDNN's padding limit.
    Case("conv_transpose2d_dilated_output_padding",
         "nn.Sequential(nn.ConvTranspose2d(3, 4, 3, dilation=3, output_padding=2), nn.ELU())",
         [(2, 3, 4, 5), (3, 2, 2)]),
    Case("conv_transpose2d_mixed_output_padding",
         "nn.Sequential(nn.ConvTranspose2d(3, 4, (3, 2), stride=(1, 2), dilation=(2, 1), output_padding=(1, 1),"
         " padding=(0, 1)), nn.BatchNorm2d(4), nn.ReLU())",
         [(2, 3, 4, 5), (1, 3, 1, 1)]),
    Case("conv_transpose2d_bn_relu",
         "nn.Sequential(nn.ConvTranspose2d(8, 16, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(16),"
         " nn.ReLU(), nn.ConvTranspose2d(16, 3, 4, stride=2, padding=1), nn.Tanh())",
         [(2, 8, 3, 3), (1, 8, 4, 5)]),
    Case("conv_transpose2d_depthwise", "nn.Sequential(nn.ConvTranspose2d(8, 8, 3, stride=2, groups=8))",
         [(2, 8, 4, 5)]),
    # ConvTranspose1d.
    Case("conv_transpose1d", "nn.Sequential(nn.ConvTranspose1d(4, 2, 4, stride=2, padding=1))",
         [(2, 4, 7), (4, 7), (1, 4, 1)]),
    Case("conv_transpose1d_args",
         "nn.Sequential(nn.ConvTranspose1d(6, 4, 3, stride=3, padding=2, output_padding=2, groups=2, dilation=2,"
         " bias=False))",
         [(2, 6, 5), (6, 4)]),
    Case("conv_transpose1d_bn_silu",
         "nn.Sequential(nn.ConvTranspose1d(3, 8, 5, stride=2), nn.BatchNorm1d(8), nn.SiLU())",
         [(2, 3, 6), (1, 3, 2)]),
    Case("conv_transpose1d_dilated_output_padding",
         "nn.Sequential(nn.ConvTranspose1d(2, 3, 2, stride=2, dilation=4, output_padding=3))",
         [(2, 2, 5), (2, 3)]),
    # Encoder/decoder round trip.
    Case("conv_autoencoder",
         "nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1),"
         " nn.ReLU(), nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),"
         " nn.ConvTranspose2d(8, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())",
         [(2, 1, 12, 12), (1, 16, 8)]),
    # A VGG block (MaxPool2d is another family's module).
    Case("conv_vgg_block",
         "nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),"
         " nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True), nn.MaxPool2d(2))",
         [(2, 3, 16, 16), (1, 3, 9, 11)]),
]
