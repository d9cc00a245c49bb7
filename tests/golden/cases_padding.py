"""ZeroPad, ConstantPad, ReflectionPad, ReplicationPad and CircularPad in 1, 2 and 3 dims:
int and tuple padding, asymmetric and negative (cropping) padding, the largest padding each
mode allows, batched and unbatched inputs at odd sizes, constant padding on other ranks,
a tuple shorter than the class's dims (F.pad pads fewer dims), and pads between
convolutions (oneDNN's blocked layout, with a padded last channel block at 20 channels).

Debian's torch 1.13 has no CircularPad1d/2d/3d, ZeroPad1d or ZeroPad3d: their expectations
come from torch.nn.functional.pad (mode 'circular' / 'constant'), which is their forward in
PyTorch 2.1; see torch21.py."""
from golden import Case

CASES = [
    # ZeroPad / ConstantPad: any rank with enough dims.
    Case("pad_zero1d", "nn.Sequential(nn.ZeroPad1d((2, 3)))", [(2, 3, 5), (3, 4), (1, 2, 3, 7)]),
    Case("pad_zero2d", "nn.Sequential(nn.ZeroPad2d(2))", [(1, 2, 5, 6), (3, 4, 5), (4, 3)]),
    Case("pad_zero2d_crop", "nn.Sequential(nn.ZeroPad2d((1, -2, -1, 3)))", [(2, 3, 5, 6), (3, 4, 5)]),
    Case("pad_zero3d", "nn.Sequential(nn.ZeroPad3d((1, 0, 2, 1, 0, 3)))", [(2, 2, 3, 4, 5), (2, 3, 4, 5)]),
    Case("pad_constant1d", "nn.Sequential(nn.ConstantPad1d(3, 2.5))", [(2, 3, 4), (3, 1)]),
    Case("pad_constant1d_crop", "nn.Sequential(nn.ConstantPad1d((-2, 1), -1.5))", [(2, 3, 6), (3, 4)]),
    Case("pad_constant2d", "nn.Sequential(nn.ConstantPad2d((1, 2, 3, 0), value=-7))",
         [(2, 3, 4, 5), (3, 4, 5), (1, 1, 2, 3, 4)]),
    Case("pad_constant3d", "nn.Sequential(nn.ConstantPad3d(1, 0.25))", [(1, 2, 3, 4, 5), (2, 3, 4, 5), (3, 4, 5)]),
    Case("pad_constant3d_crop", "nn.Sequential(nn.ConstantPad3d((-1, 2, 0, -2, 1, -1), 3.0))",
         [(2, 2, 4, 5, 6), (3, 4, 5)]),
    # A 2-tuple for a 2-d class pads the last dim only, as F.pad does.
    Case("pad_constant2d_short", "nn.Sequential(nn.ConstantPad2d((1, 2), 1.0))", [(2, 3, 4), (2, 3, 4, 5)]),
    # ReflectionPad: padding < the dim.
    Case("pad_reflect1d", "nn.Sequential(nn.ReflectionPad1d((3, 1)))", [(2, 3, 5), (3, 4)]),
    Case("pad_reflect1d_crop", "nn.Sequential(nn.ReflectionPad1d((4, -3)))", [(2, 3, 6), (3, 7)]),
    Case("pad_reflect2d", "nn.Sequential(nn.ReflectionPad2d(2))", [(1, 2, 3, 5), (3, 4, 3)]),
    Case("pad_reflect2d_asym", "nn.Sequential(nn.ReflectionPad2d((0, 3, -1, 2)))", [(2, 2, 5, 4), (3, 6, 5)]),
    Case("pad_reflect2d_short", "nn.Sequential(nn.ReflectionPad2d((1, 2)))", [(2, 3, 4), (3, 5)]),
    Case("pad_reflect3d", "nn.Sequential(nn.ReflectionPad3d((1, 2, 0, 1, 2, 1)))",
         [(2, 2, 3, 4, 5), (2, 4, 2, 3)]),
    # ReplicationPad: any padding, also beyond the dim.
    Case("pad_replicate1d", "nn.Sequential(nn.ReplicationPad1d((5, 2)))", [(2, 3, 3), (3, 1)]),
    Case("pad_replicate2d", "nn.Sequential(nn.ReplicationPad2d((1, -1, 4, 0)))", [(2, 2, 3, 4), (3, 2, 5)]),
    Case("pad_replicate3d", "nn.Sequential(nn.ReplicationPad3d(2))", [(1, 2, 1, 3, 2), (2, 3, 2, 4)]),
    # CircularPad: padding at most what is left of the dim after cropping.
    Case("pad_circular1d", "nn.Sequential(nn.CircularPad1d((2, 4)))", [(2, 3, 4), (3, 5)]),
    Case("pad_circular1d_crop", "nn.Sequential(nn.CircularPad1d((3, -2)))", [(2, 3, 6), (3, 5)]),
    Case("pad_circular2d", "nn.Sequential(nn.CircularPad2d((1, 1, 2, 0)))", [(1, 1, 3, 3), (2, 3, 4), (2, 3, 4, 5)]),
    Case("pad_circular2d_crop", "nn.Sequential(nn.CircularPad2d((-2, 2, 1, -1)))", [(2, 2, 4, 5), (3, 4, 5)]),
    Case("pad_circular3d", "nn.Sequential(nn.CircularPad3d((1, 2, 3, 0, 1, 1)))", [(2, 2, 3, 4, 5), (2, 2, 3, 4)]),
    # Between convolutions: the pad runs on the blocked layout (16 and 20 channels), or
    # falls back to plain for a non-zero constant with padded channels.
    Case("pad_between_convs",
         "nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.ReflectionPad2d(1), nn.Conv2d(16, 16, 3), nn.ReLU(),"
         " nn.ZeroPad2d((1, 2, 0, 1)), nn.Conv2d(16, 4, 3))",
         [(2, 3, 9, 8), (3, 7, 7)]),
    Case("pad_between_convs_padded_channels",
         "nn.Sequential(nn.Conv2d(3, 20, 3), nn.ReflectionPad2d((2, 1, 1, 2)), nn.Conv2d(20, 20, 1), nn.Tanh(),"
         " nn.ConstantPad2d(1, 0.5), nn.Conv2d(20, 16, 3), nn.ConstantPad2d((1, 0, 0, 1), -1.0),"
         " nn.ReplicationPad2d(1), nn.CircularPad2d((1, 1, 2, 2)), nn.Conv2d(16, 2, 3))",
         [(2, 3, 8, 9), (3, 6, 7)]),
    Case("pad_between_convs1d",
         "nn.Sequential(nn.Conv1d(2, 20, 3), nn.ReplicationPad1d((3, 0)), nn.Conv1d(20, 8, 3),"
         " nn.CircularPad1d(2), nn.Conv1d(8, 4, 3))",
         [(2, 2, 11), (1, 2, 7)]),
    Case("pad_between_convs3d",
         "nn.Sequential(nn.Conv3d(2, 20, 3), nn.ReflectionPad3d(1), nn.Conv3d(20, 16, 3), nn.ZeroPad3d((1, 0, 0, 1, 1, 0)),"
         " nn.CircularPad3d(1), nn.Conv3d(16, 3, 3))",
         [(2, 2, 5, 6, 7), (1, 2, 4, 5, 4)]),
]
