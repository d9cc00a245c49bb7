"""seqserve.export and model_seq_text: exact model.seq text, every module family through a
PyTorch round trip, the safetensors contents, refusals, config.pbtxt and the command line."""
import collections
import contextlib
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import textwrap
import unittest
import warnings
from pathlib import Path

import numpy as np

import seqserve
from seqserve.export import cli

try:
    import torch
    from torch import nn

    from tests import zoo
except ImportError:  # CI without python3-torch: every test here skips
    torch = None

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
needs_torch = unittest.skipIf(torch is None, "python3-torch not installed")


def read_safetensors(path):
    """An independent reader (not seqserve's), so a shared bug cannot hide."""
    data = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    header.pop("__metadata__", None)
    dtypes = {"F32": np.float32, "I64": np.int64}
    out = {}
    for key, entry in header.items():
        begin, end = entry["data_offsets"]
        raw = data[8 + length + begin:8 + length + end]
        out[key] = (entry["dtype"],
                    np.frombuffer(raw, dtypes[entry["dtype"]]).reshape(entry["shape"]))
    return out


def build_from_text(text):
    """Evaluates model.seq as Python with torch.nn in scope, as tests/golden/golden.py does."""
    scope = {"nn": nn, "torch": torch, "OrderedDict": collections.OrderedDict}
    return eval(text, scope)  # noqa: S307 - our own generated text


@needs_torch
class ModelSeqTextTest(unittest.TestCase):
    def test_seed_example_positional(self):
        model = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.Conv2d(20, 64, 5), nn.ReLU())
        self.assertEqual(seqserve.model_seq_text(model), textwrap.dedent("""\
            nn.Sequential(
                nn.Conv2d(1, 20, 5),
                nn.ReLU(),
                nn.Conv2d(20, 64, 5),
                nn.ReLU(),
            )
            """))

    def test_named_children_use_the_ordered_dict_form(self):
        self.assertEqual(seqserve.model_seq_text(zoo.seed_ordered()), textwrap.dedent("""\
            nn.Sequential(OrderedDict([
                ('conv1', nn.Conv2d(1, 20, 5)),
                ('relu1', nn.ReLU()),
                ('conv2', nn.Conv2d(20, 64, 5)),
                ('relu2', nn.ReLU()),
            ]))
            """))

    def test_nesting_and_append(self):
        model = nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.GELU()), nn.Linear(4, 1))
        model.append(nn.Sequential())
        self.assertEqual(seqserve.model_seq_text(model), textwrap.dedent("""\
            nn.Sequential(
                nn.Sequential(
                    nn.Linear(4, 4),
                    nn.GELU(),
                ),
                nn.Linear(4, 1),
                nn.Sequential(),
            )
            """))
        self.assertEqual(seqserve.model_seq_text(zoo.mixed()), textwrap.dedent("""\
            nn.Sequential(OrderedDict([
                ('features', nn.Sequential(
                    nn.Conv2d(1, 4, 3),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                )),
                ('head', nn.Sequential(OrderedDict([
                    ('flat', nn.Flatten()),
                    ('fc', nn.Linear(36, 6)),
                    ('2', nn.LogSoftmax(dim=-1)),
                ]))),
            ]))
            """))

    def test_non_default_arguments_of_many_families(self):
        self.assertEqual(seqserve.model_seq_text(zoo.cnn2d()), textwrap.dedent("""\
            nn.Sequential(
                nn.Conv2d(3, 8, 3, padding=1, bias=False),
                nn.BatchNorm2d(8),
                nn.ReLU6(),
                nn.MaxPool2d(2, ceil_mode=True),
                nn.Conv2d(8, 8, 3, padding='same', groups=2, padding_mode='reflect'),
                nn.GroupNorm(2, 8),
                nn.Hardswish(),
                nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
                nn.Conv2d(8, 4, (3, 1), padding=(1, 2), dilation=(1, 2), padding_mode='circular'),
                nn.MaxPool2d((2, 1), stride=1, padding=(1, 0), dilation=(2, 1)),
                nn.AdaptiveMaxPool2d((2, 3)),
                nn.Dropout2d(p=0.3),
                nn.Flatten(),
                nn.Linear(24, 10),
                nn.LogSoftmax(dim=1),
            )
            """))
        self.assertEqual(seqserve.model_seq_text(zoo.deconv()), textwrap.dedent("""\
            nn.Sequential(
                nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1),
                nn.ELU(alpha=0.5),
                nn.ConvTranspose2d(6, 2, (2, 3), groups=2, bias=False, dilation=(1, 2)),
                nn.Mish(),
                nn.AvgPool2d(2, divisor_override=3),
                nn.AdaptiveAvgPool2d((None, 3)),
                nn.Conv2d(2, 3, 1, padding='valid'),
                nn.Sigmoid(),
            )
            """))
        self.assertEqual(seqserve.model_seq_text(zoo.seq1d()), textwrap.dedent("""\
            nn.Sequential(OrderedDict([
                ('conv', nn.Conv1d(3, 6, 5, stride=2, padding=2, padding_mode='replicate')),
                ('bn', nn.BatchNorm1d(6, eps=0.001)),
                ('act', nn.LeakyReLU(negative_slope=0.2)),
                ('pool', nn.MaxPool1d(3, stride=2, padding=1)),
                ('up', nn.ConvTranspose1d(6, 4, 4, stride=2)),
                ('prelu', nn.PReLU(num_parameters=4)),
                ('celu', nn.CELU(alpha=1.5)),
                ('avg', nn.AvgPool1d(3, stride=1, padding=1, ceil_mode=True)),
                ('adapt', nn.AdaptiveAvgPool1d(5)),
                ('drop', nn.Dropout1d(p=0.25)),
                ('flat', nn.Flatten()),
                ('unflat', nn.Unflatten(1, (4, 5))),
                ('softmax', nn.Softmax(dim=-1)),
            ]))
            """))

    def test_defaults_are_omitted_and_floats_are_exact(self):
        model = nn.Sequential(
            nn.Conv2d(1, 2, 3, stride=1, padding=0, dilation=(1, 1), groups=1, bias=True,
                      padding_mode="zeros"),
            nn.BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True),
            nn.LeakyReLU(0.1 + 0.2),
            nn.LayerNorm([4, 5], eps=1e-7),
            nn.Softplus(beta=1, threshold=20),
            nn.Hardtanh(-1.0, 1.0, inplace=True),
            nn.Flatten(0, -1),
            nn.MaxPool2d(3, stride=3),
            nn.Dropout(p=0.5),
        )
        self.assertEqual(seqserve.model_seq_text(model), textwrap.dedent("""\
            nn.Sequential(
                nn.Conv2d(1, 2, 3),
                nn.BatchNorm1d(4),
                nn.LeakyReLU(negative_slope=0.30000000000000004),
                nn.LayerNorm((4, 5), eps=1e-07),
                nn.Softplus(),
                nn.Hardtanh(inplace=True),
                nn.Flatten(start_dim=0),
                nn.MaxPool2d(3),
                nn.Dropout(),
            )
            """))

    def test_transformer_embedding_and_the_sequential_api(self):
        self.assertEqual(seqserve.model_seq_text(zoo.text()), textwrap.dedent("""\
            nn.Sequential(OrderedDict([
                ('embed', nn.Embedding(20, 16, padding_idx=0)),
                ('encoder', nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, \
dim_feedforward=32, activation='gelu', batch_first=True), 2, norm=nn.LayerNorm(16, eps=1e-06))),
                ('block', nn.TransformerEncoderLayer(16, 2, dim_feedforward=24, dropout=0.0, \
activation=nn.SiLU(), batch_first=True, norm_first=True)),
                ('flat', nn.Flatten()),
                ('head', nn.Linear(96, 5)),
            ]))
            """))
        self.assertEqual(seqserve.model_seq_text(zoo.bag()), textwrap.dedent("""\
            nn.Sequential(
                nn.Dropout(p=0.1),
                nn.EmbeddingBag(30, 8, mode='max', padding_idx=2),
                nn.Linear(8, 4),
                nn.Hardshrink(lambd=0.3),
            )
            """))
        # +, .extend, .insert and slicing build an ordinary tree; slicing keeps the names.
        self.assertEqual(seqserve.model_seq_text(zoo.sequential_api()), textwrap.dedent("""\
            nn.Sequential(OrderedDict([
                ('body', nn.Sequential(
                    nn.Linear(6, 8),
                    nn.Tanh(),
                    nn.Softshrink(lambd=0.2),
                    nn.Linear(8, 8),
                    nn.Threshold(0.1, -0.5),
                    nn.Linear(8, 4),
                )),
                ('tail', nn.Sequential(OrderedDict([
                    ('0', nn.Linear(4, 4)),
                    ('2', nn.Linear(4, 3)),
                ]))),
            ]))
            """))

    def test_3d_padding_and_vision_arguments(self):
        self.assertEqual(seqserve.model_seq_text(zoo.padding1d()), textwrap.dedent("""\
            nn.Sequential(
                nn.ZeroPad1d(2),
                nn.ConstantPad1d((1, -2), 0.5),
                nn.ReflectionPad1d((3, 1)),
                nn.ReplicationPad1d(2),
                nn.CircularPad1d((1, 2)),
                nn.Conv1d(3, 4, 3),
                nn.InstanceNorm1d(4, affine=True),
                nn.Sigmoid(),
                nn.LPPool1d(2, 3, stride=2),
                nn.AdaptiveMaxPool1d(5),
                nn.Upsample(scale_factor=2.0, mode='linear', align_corners=True),
                nn.GLU(),
                nn.InstanceNorm1d(4, momentum=0.3, track_running_stats=True),
                nn.Upsample(size=7, mode='nearest-exact'),
                nn.Softmin(dim=1),
            )
            """))
        model = nn.Sequential(
            nn.Conv3d(2, 4, (3, 1, 3), stride=(1, 2, 2), padding=(1, 0, 1), groups=2),
            nn.ConvTranspose3d(4, 2, 2, stride=2, output_padding=(1, 0, 0), dilation=1),
            nn.MaxPool3d((1, 2, 2), stride=1, padding=(0, 1, 1), dilation=(1, 2, 2)),
            nn.AvgPool3d(2, ceil_mode=True, divisor_override=5),
            nn.AdaptiveAvgPool3d((1, None, 2)),
            nn.BatchNorm3d(2, affine=False),
            nn.LocalResponseNorm(2, beta=0.5),
            nn.Unfold((2, 3), dilation=2),
            nn.Fold(6, 2, stride=(1, 2)),
            nn.PixelShuffle(3),
            nn.UpsamplingBilinear2d(scale_factor=2),
            nn.Upsample(size=(4, 5), mode='bilinear', align_corners=True),
            nn.ReplicationPad2d(0),
            nn.Softmax2d(),
        )
        self.assertEqual(seqserve.model_seq_text(model), textwrap.dedent("""\
            nn.Sequential(
                nn.Conv3d(2, 4, (3, 1, 3), stride=(1, 2, 2), padding=(1, 0, 1), groups=2),
                nn.ConvTranspose3d(4, 2, 2, stride=2, output_padding=(1, 0, 0)),
                nn.MaxPool3d((1, 2, 2), stride=1, padding=(0, 1, 1), dilation=(1, 2, 2)),
                nn.AvgPool3d(2, ceil_mode=True, divisor_override=5),
                nn.AdaptiveAvgPool3d((1, None, 2)),
                nn.BatchNorm3d(2, affine=False),
                nn.LocalResponseNorm(2, beta=0.5),
                nn.Unfold((2, 3), dilation=2),
                nn.Fold(6, 2, stride=(1, 2)),
                nn.PixelShuffle(3),
                nn.UpsamplingBilinear2d(scale_factor=2.0),
                nn.Upsample(size=(4, 5), mode='bilinear', align_corners=True),
                nn.ReplicationPad2d(0),
                nn.Softmax2d(),
            )
            """))

    def test_transformer_activations_as_model_seq_can_say_them(self):
        """PyTorch stores 'relu'/'gelu' as F.relu/F.gelu, written back as the strings; other
        functions with a module twin become that module; modules are written as calls."""
        import torch.nn.functional as F
        cases = [(F.relu, ""), ("relu", ""), (F.gelu, ", activation='gelu'"),
                 ("gelu", ", activation='gelu'"), (F.silu, ", activation=nn.SiLU()"),
                 (torch.tanh, ", activation=nn.Tanh()"),
                 (nn.GELU(approximate='tanh'), ", activation=nn.GELU(approximate='tanh')"),
                 (nn.LeakyReLU(0.2), ", activation=nn.LeakyReLU(negative_slope=0.2)")]
        for activation, written in cases:
            with self.subTest(activation=activation):
                layer = nn.TransformerEncoderLayer(8, 2, 16, activation=activation)
                self.assertEqual(seqserve.model_seq_text(nn.Sequential(layer)),
                                 f"nn.Sequential(\n    nn.TransformerEncoderLayer(8, 2, "
                                 f"dim_feedforward=16{written}),\n)\n")

    def test_children_not_numbered_in_order_keep_their_names(self):
        model = nn.Sequential(collections.OrderedDict(
            [("1", nn.ReLU()), ("0", nn.Tanh()), ("it's", nn.Sigmoid())]))
        self.assertEqual(seqserve.model_seq_text(model), textwrap.dedent("""\
            nn.Sequential(OrderedDict([
                ('1', nn.ReLU()),
                ('0', nn.Tanh()),
                ('it\\'s', nn.Sigmoid()),
            ]))
            """))
        self.assertEqual(list(build_from_text(seqserve.model_seq_text(model))._modules),
                         ["1", "0", "it's"])

    def test_every_module_family_round_trips_through_pytorch(self):
        """Each zoo model's text rebuilt by PyTorch takes the exported weights strictly,
        computes the same outputs, and exports to the same text again."""
        used = set()
        for name, (_, shape) in zoo.MODELS.items():
            with self.subTest(model=name):
                model = zoo.build(name).eval()
                text = seqserve.model_seq_text(model)
                rebuilt = build_from_text(text)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # Softmax(dim=None)'s legacy warning
                    rebuilt.load_state_dict(model.state_dict(), strict=True)
                    rebuilt.eval()
                    self.assertEqual(seqserve.model_seq_text(rebuilt), text)
                    x = zoo.example_input(name, shape, torch.Generator().manual_seed(0))
                    with torch.no_grad():
                        torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)
                used.update(type(m).__name__ for m in model.modules())
        self.assertEqual(set(seqserve.SUPPORTED_MODULES) - used, set(),
                         "the zoo must use every supported module type")


@needs_torch
class ExportTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.repo = Path(self.dir.name) / "models"

    def tearDown(self):
        self.dir.cleanup()

    def test_writes_model_seq_and_the_state_dict(self):
        model = zoo.build("seq1d")
        version_dir = seqserve.export(model, self.repo, "seq1d", version=3)
        self.assertEqual(version_dir, self.repo / "seq1d" / "3")
        self.assertEqual(sorted(os.listdir(version_dir)), ["model.safetensors", "model.seq"])
        text = (version_dir / "model.seq").read_text()
        self.assertTrue(text.startswith("# Exported by seqserve.export"))
        self.assertTrue(text.endswith(seqserve.model_seq_text(model)))
        self.assertFalse((self.repo / "seq1d" / "config.pbtxt").exists())

        loaded = read_safetensors(version_dir / "model.safetensors")
        state = model.state_dict()
        self.assertEqual(set(loaded), set(state))
        for key, tensor in state.items():
            dtype, array = loaded[key]
            if key.endswith("num_batches_tracked"):
                self.assertEqual(dtype, "I64")
            else:
                self.assertEqual(dtype, "F32", key)
            np.testing.assert_array_equal(array, tensor.numpy(), err_msg=key)
        # PyTorch itself takes the file back strictly.
        restored = {k: torch.from_numpy(a.copy()) for k, (_, a) in loaded.items()}
        zoo.seq1d().load_state_dict(restored, strict=True)

    def test_parameters_of_any_float_type_are_written_as_float32(self):
        model = nn.Sequential(nn.Linear(3, 2)).double()
        version_dir = seqserve.export(model, self.repo, "m")
        loaded = read_safetensors(version_dir / "model.safetensors")
        self.assertEqual(loaded["0.weight"][0], "F32")
        np.testing.assert_array_equal(loaded["0.weight"][1],
                                      model[0].weight.detach().float().numpy())

    def test_training_mode_exports_eval_semantics_and_keeps_the_mode(self):
        model = zoo.build("norms_mlp").train()
        version_dir = seqserve.export(model, self.repo, "train")
        self.assertTrue(model.training)
        eval_dir = seqserve.export(model.eval(), self.repo, "eval")
        for name in ("model.seq", "model.safetensors"):
            self.assertEqual((version_dir / name).read_bytes(), (eval_dir / name).read_bytes())

    def test_a_model_without_parameters_has_no_weights_file(self):
        seqserve.export(nn.Sequential(nn.Linear(2, 2)), self.repo, "m")
        version_dir = seqserve.export(nn.Sequential(nn.ReLU(), nn.Softmax(dim=1)), self.repo, "m")
        self.assertEqual(os.listdir(version_dir), ["model.seq"])

    def test_config_dict_and_text(self):
        seqserve.export(zoo.appended(), self.repo, "mlp",
                        config={"max_batch_size": 8, "input_dims": [4], "instance_count": 2})
        config = (self.repo / "mlp" / "config.pbtxt").read_text()
        self.assertEqual(config, 'max_batch_size: 8\n'
                                 'input [ { name: "input" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
                                 'dynamic_batching { }\n'
                                 'instance_group [ { count: 2 kind: KIND_CPU } ]\n')
        # Exporting another version without a config leaves the model's config alone.
        seqserve.export(zoo.appended(), self.repo, "mlp", version=2)
        self.assertEqual((self.repo / "mlp" / "config.pbtxt").read_text(), config)
        seqserve.export(zoo.appended(), self.repo, "mlp", config="max_batch_size: 4")
        self.assertEqual((self.repo / "mlp" / "config.pbtxt").read_text(), "max_batch_size: 4\n")

    def test_an_id_model_config_takes_int64(self):
        seqserve.export(zoo.build("text"), self.repo, "text", config={"input_dims": [6]})
        self.assertEqual((self.repo / "text" / "config.pbtxt").read_text(),
                         'max_batch_size: 64\n'
                         'input [ { name: "input" data_type: TYPE_INT64 dims: [ 6 ] } ]\n'
                         'dynamic_batching { }\n')
        # Identities before the EmbeddingBag do not change what the model takes.
        seqserve.export(zoo.build("bag"), self.repo, "bag", config={"input_name": "ids"})
        self.assertIn('input [ { name: "ids" data_type: TYPE_INT64 } ]',
                      (self.repo / "bag" / "config.pbtxt").read_text())

    def test_transformer_weights_keep_pytorch_state_dict_names(self):
        model = zoo.build("text")
        version_dir = seqserve.export(model, self.repo, "text")
        loaded = read_safetensors(version_dir / "model.safetensors")
        self.assertEqual(sorted(loaded), sorted(model.state_dict()))
        for key in ("encoder.layers.1.self_attn.in_proj_weight", "encoder.norm.bias",
                    "block.self_attn.out_proj.bias", "block.norm2.weight", "embed.weight"):
            self.assertIn(key, loaded)
        self.assertEqual(loaded["encoder.layers.0.self_attn.in_proj_weight"][1].shape, (48, 16))
        # PyTorch takes the file back strictly.
        restored = {k: torch.from_numpy(a.copy()) for k, (_, a) in loaded.items()}
        zoo.text().load_state_dict(restored, strict=True)

    def test_instance_norm_running_statistics_only_when_tracked(self):
        tracked = nn.Sequential(nn.InstanceNorm1d(3, track_running_stats=True),
                                nn.InstanceNorm2d(3, affine=True))
        version_dir = seqserve.export(tracked, self.repo, "norms")
        loaded = read_safetensors(version_dir / "model.safetensors")
        self.assertEqual(sorted(loaded), ["0.num_batches_tracked", "0.running_mean",
                                          "0.running_var", "1.bias", "1.weight"])
        version_dir = seqserve.export(nn.Sequential(nn.InstanceNorm3d(3)), self.repo, "plain")
        self.assertEqual(os.listdir(version_dir), ["model.seq"])

    def test_bad_arguments_fail_before_writing(self):
        with self.assertRaisesRegex(ValueError, "unknown config key"):
            seqserve.export(zoo.appended(), self.repo, "m", config={"batch": 1})
        with self.assertRaisesRegex(ValueError, "version must be a positive integer"):
            seqserve.export(zoo.appended(), self.repo, "m", version=0)
        with self.assertRaisesRegex(ValueError, "must be a non-empty directory name"):
            seqserve.export(zoo.appended(), self.repo, "a/b")
        self.assertFalse(self.repo.exists())

    def test_export_stays_callable_after_importing_the_cli_module(self):
        import seqserve.export as cli_module
        self.assertEqual(cli_module(zoo.nested(), self.repo, "n"), self.repo / "n" / "1")
        self.assertEqual(seqserve.export(zoo.nested(), self.repo, "n", 2), self.repo / "n" / "2")


class Custom(nn.Module if torch else object):
    def forward(self, x):
        return x


class MyLinear(nn.Linear if torch else object):
    pass


@needs_torch
class RefusalTest(unittest.TestCase):
    def assert_refused(self, model, *lines):
        with tempfile.TemporaryDirectory() as tmp:
            with self.assertRaises(seqserve.ExportError) as caught:
                seqserve.export(model, tmp, "m")
            self.assertEqual(os.listdir(tmp), [], "nothing may be written")
        self.assertEqual(caught.exception.problems, list(lines))
        return str(caught.exception)

    def test_every_offending_module_is_named_by_path_and_type(self):
        with_hook = nn.ReLU()
        with_hook.register_forward_hook(lambda m, i, o: o * 2)
        model = nn.Sequential(collections.OrderedDict([
            ("custom", Custom()),
            ("sub", MyLinear(2, 3)),
            ("body", nn.Sequential(nn.Linear(3, 3), nn.LSTM(3, 3), with_hook)),
        ]))
        message = self.assert_refused(
            model,
            f"custom (Custom): custom module {__name__}.Custom is not supported: model.seq "
            f"holds only torch.nn modules",
            "sub (MyLinear): a subclass of nn.Linear, whose forward may differ; seqserve runs "
            "only the torch.nn classes themselves",
            "body.1 (LSTM): nn.LSTM is not supported by seqserve",
            "body.2 (ReLU): has forward hooks, which model.seq cannot express (remove them, or "
            "fold what they do into the model)")
        self.assertIn("cannot export this model for seqserve (4 problems); nothing was "
                      "written:\n  custom (Custom)", message)
        self.assertIn("\nseqserve supports: Sequential, Identity, Linear,", message)

    def test_configurations_the_server_rejects(self):
        layer_norm = nn.LayerNorm(3)
        layer_norm.weight = None
        self.assert_refused(
            nn.Sequential(
                nn.BatchNorm1d(3, track_running_stats=False),
                nn.MaxPool2d(2, return_indices=True),
                nn.AdaptiveMaxPool2d(2, return_indices=True),
                nn.Unflatten("features", (("a", 2), ("b", 2))),
                layer_norm,
                nn.Softplus(beta=0),
                nn.Hardtanh(-float("inf"), 1.0),
                nn.MaxPool2d(2, padding=2),
            ),
            "0 (BatchNorm1d): track_running_stats=False is not supported: PyTorch then "
            "normalises with the statistics of the batch, so a sample's answer would depend on "
            "which other requests were batched with it",
            "1 (MaxPool2d): return_indices=True is not supported: the module then returns "
            "(output, indices), which a Sequential cannot pass on",
            "2 (AdaptiveMaxPool2d): return_indices=True is not supported: the module then "
            "returns (output, indices), which a Sequential cannot pass on",
            "3 (Unflatten): named dimension 'features' is not supported: request tensors carry "
            "no dimension names",
            "4 (LayerNorm): a bias without a weight cannot be expressed in model.seq "
            "(LayerNorm's elementwise_affine=False drops both)",
            "5 (Softplus): beta=0 is not allowed (Softplus divides by it)",
            "6 (Hardtanh): argument 'min_val': -inf has no literal in model.seq",
            "7 (MaxPool2d): padding 2 must be between 0 and half the effective kernel size (2)")

    def test_configurations_the_server_rejects_in_the_new_families(self):
        encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 8), 2)
        encoder.layers[1].norm1.eps = encoder.layers[1].norm2.eps = 1e-3
        self.assert_refused(
            nn.Sequential(
                nn.Linear(4, 4),
                nn.Embedding(4, 4, max_norm=1.0),
                nn.EmbeddingBag(4, 4, include_last_offset=True),
                nn.MaxPool3d(2, return_indices=True),
                nn.MaxPool3d(3, padding=2, dilation=2),
                nn.ConvTranspose2d(2, 2, 3, stride=2, output_padding=2),
                nn.Upsample(scale_factor=2, align_corners=True),
                nn.LPPool2d(0, 2),
                nn.Fold((2, 2), 3),
                nn.TransformerEncoderLayer(4, 2, 8, activation=nn.Hardtanh()),
                encoder,
                nn.Softshrink(-1.0),
                nn.RReLU(0.5, 0.1),
                nn.AdaptiveMaxPool3d(2, return_indices=True),
            ),
            "1 (Embedding): max_norm is not supported: PyTorch renormalises the looked-up rows "
            "of the weight in place during forward, so an answer would depend on earlier "
            "requests",
            "1 (Embedding): takes integer ids, so it must be the model's first module; here it "
            "follows 0 (Linear), whose output is float32",
            "2 (EmbeddingBag): include_last_offset=True is not supported: on 2-D input PyTorch "
            "then takes the start of the last bag as the end of the one before, so the output "
            "has one row fewer than the input",
            "2 (EmbeddingBag): takes integer ids, so it must be the model's first module; here "
            "it follows 0 (Linear), whose output is float32",
            "3 (MaxPool3d): return_indices=True is not supported: the module then returns "
            "(output, indices), which a Sequential cannot pass on",
            "4 (MaxPool3d): padding 2 must be between 0 and half the kernel size (3)",
            "5 (ConvTranspose2d): output padding must be smaller than either stride or "
            "dilation, but got output_padding=(2, 2), stride=(2, 2), dilation=(1, 1)",
            "6 (Upsample): align_corners can only be set with the interpolating modes: linear "
            "| bilinear | bicubic | trilinear",
            "7 (LPPool2d): norm_type must not be 0 (the output is the (1 / norm_type)-th root)",
            "8 (Fold): output_size=(2, 2) with kernel_size=(3, 3), dilation=(1, 1), "
            "padding=(0, 0) and stride=(1, 1) gives (0, 0) sliding blocks, which is too small "
            "(non-positive): PyTorch fails on every forward",
            "9 (TransformerEncoderLayer): activation nn.Hardtanh is not supported inside a "
            "Transformer layer: seqserve takes 'relu', 'gelu' or one of nn.ReLU, nn.LeakyReLU, "
            "nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish, nn.Tanh, "
            "nn.Hardswish, nn.LogSigmoid (LeakyReLU and RReLU with a nonzero slope)",
            "10 (TransformerEncoder): layers.1 is not configured as layers.0 "
            "(nn.TransformerEncoderLayer(4, 2, dim_feedforward=8)); model.seq builds "
            "num_layers copies of one layer",
            "11 (Softshrink): lambd must be greater or equal to 0, but found to be -1.0 "
            "(PyTorch fails on every forward)",
            "12 (RReLU): lower (0.5) must be less than or equal to upper (0.1)",
            "13 (AdaptiveMaxPool3d): return_indices=True is not supported: the module then "
            "returns (output, indices), which a Sequential cannot pass on")

    def test_inside_a_transformer_layer(self):
        hooked = nn.TransformerEncoderLayer(4, 2, 8)
        hooked.linear1.register_forward_hook(lambda m, i, o: o)
        odd_attention = nn.TransformerEncoderLayer(4, 2, 8)
        odd_attention.self_attn = nn.MultiheadAttention(4, 2, add_zero_attn=True)
        custom = nn.TransformerEncoderLayer(4, 2, 8)
        custom.linear2 = MyLinear(8, 4)
        self.assert_refused(
            nn.Sequential(
                hooked,
                nn.TransformerEncoderLayer(4, 2, 8, activation=lambda x: x * 2),
                odd_attention,
                custom,
                nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 8), 0),
            ),
            "0.linear1 (Linear): has forward hooks, which model.seq cannot express (remove "
            "them, or fold what they do into the model)",
            "1 (TransformerEncoderLayer): activation '<lambda>' cannot be expressed in "
            "model.seq: use 'relu', 'gelu' or one of the modules nn.ReLU, nn.LeakyReLU, "
            "nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish, nn.Tanh, "
            "nn.Hardswish, nn.LogSigmoid",
            "2 (TransformerEncoderLayer): self_attn has kdim/vdim, add_bias_kv or "
            "add_zero_attn set, which TransformerEncoderLayer's constructor never does",
            "3 (TransformerEncoderLayer): linear2 is a MyLinear, not the nn.Linear "
            "TransformerEncoderLayer makes",
            "4 (TransformerEncoder): no layers: model.seq's TransformerEncoder(encoder_layer, "
            "num_layers) needs a layer to copy")

    def test_parameters_that_do_not_match_the_constructor(self):
        linear = nn.Linear(4, 2)
        linear.weight = nn.Parameter(torch.zeros(3, 4))
        linear.register_buffer("extra", torch.zeros(1))
        self.assert_refused(
            nn.Sequential(linear),
            "0 (Linear): its parameters (bias [2], extra [1], weight [3, 4]) do not match what "
            "its constructor arguments describe (bias [2], weight [2, 4])")

    def test_the_root_must_be_a_plain_sequential(self):
        self.assert_refused(nn.Linear(2, 2), "(root): the model must be a torch.nn.Sequential, "
                                             "got Linear")

        class MySequential(nn.Sequential):
            pass
        self.assert_refused(MySequential(nn.ReLU()), "(root): the model must be a "
                                                     "torch.nn.Sequential, got a subclass of "
                                                     "nn.Sequential (RefusalTest.test_the_root_"
                                                     "must_be_a_plain_sequential.<locals>."
                                                     "MySequential), whose forward may differ")


@needs_torch
class CommandLineTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.root = Path(self.dir.name)
        (self.root / "userpkg").mkdir()
        (self.root / "userpkg" / "__init__.py").write_text("")
        (self.root / "userpkg" / "nets.py").write_text(textwrap.dedent("""\
            from torch import nn

            def build():
                return nn.Sequential(nn.Linear(6, 2))
            """))
        # A file that imports a neighbour, as scripts do.
        (self.root / "mynet.py").write_text(textwrap.dedent("""\
            from torch import nn
            from helpers import WIDTH

            model = nn.Sequential(nn.Linear(4, WIDTH), nn.Tanh())

            def bad():
                return nn.Sequential(nn.LSTM(2, 2))
            """))
        (self.root / "helpers.py").write_text("WIDTH = 6\n")
        (self.root / "config.json").write_text('{"max_batch_size": 16}')
        self.repo = self.root / "repo"

    def tearDown(self):
        self.dir.cleanup()
        for name in ("userpkg", "userpkg.nets", "mynet", "helpers"):
            sys.modules.pop(name, None)
        sys.path[:] = [p for p in sys.path if not p.startswith(self.dir.name)]

    def run_main(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(argv))
        return code, out.getvalue(), err.getvalue()

    def test_file_path_with_an_attribute_and_a_json_config(self):
        code, out, err = self.run_main(f"{self.root}/mynet.py:model", str(self.repo),
                                       "tanh", "--version", "2",
                                       "--config", str(self.root / "config.json"))
        self.assertEqual((code, err), (0, ""))
        self.assertIn("model.safetensors, model.seq", out)
        self.assertIn("nn.Linear(4, 6)", (self.repo / "tanh" / "2" / "model.seq").read_text())
        self.assertEqual((self.repo / "tanh" / "config.pbtxt").read_text(),
                         "max_batch_size: 16\ndynamic_batching { }\n")

    def test_module_path_with_a_function(self):
        cwd = os.getcwd()
        os.chdir(self.root)
        try:
            code, _, err = self.run_main("userpkg.nets:build", str(self.repo), "head")
        finally:
            os.chdir(cwd)
        self.assertEqual((code, err), (0, ""))
        self.assertIn("nn.Linear(6, 2)", (self.repo / "head" / "1" / "model.seq").read_text())

    def test_refusal_and_usage_errors(self):
        code, _, err = self.run_main(f"{self.root}/mynet.py:bad", str(self.repo), "x")
        self.assertEqual(code, 1)
        self.assertIn("0 (LSTM): nn.LSTM is not supported by seqserve", err)
        code, _, err = self.run_main("no_colon", str(self.repo), "x")
        self.assertEqual(code, 2)
        self.assertIn("expected MODULE:ATTRIBUTE", err)
        code, _, err = self.run_main(f"{self.root}/mynet.py:missing", str(self.repo), "x")
        self.assertEqual(code, 2)
        self.assertIn("has no attribute 'missing'", err)
        self.assertFalse(self.repo.exists())

    def test_python_dash_m(self):
        env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT))
        result = subprocess.run(
            [sys.executable, "-m", "seqserve.export", "mynet.py:model", "repo", "tanh"],
            cwd=self.root, env=env, capture_output=True, text=True, check=False)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")
        self.assertTrue((self.repo / "tanh" / "1" / "model.safetensors").exists())


if __name__ == "__main__":
    unittest.main()
