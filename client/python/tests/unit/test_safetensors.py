"""safetensors writer and reader, checked against the format itself (a hand-built file), not
only against each other."""
import json
import os
import struct
import tempfile
import unittest

import numpy as np

from seqserve import load_safetensors, save_safetensors
from seqserve.safetensors import encode_safetensors


class SafetensorsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "model.safetensors")

    def tearDown(self):
        self.dir.cleanup()

    def test_layout_is_header_length_json_header_then_aligned_data(self):
        data = encode_safetensors({"b": np.array([1.5, -2.0], np.float32),
                                   "a": np.arange(3, dtype=np.int64)}, {"format": "pt"})
        (length,) = struct.unpack_from("<Q", data)
        self.assertEqual(length % 8, 0)
        header = json.loads(data[8:8 + length])
        self.assertEqual(header["__metadata__"], {"format": "pt"})
        # Tensors in name order: "a" first.
        self.assertEqual(header["a"], {"dtype": "I64", "shape": [3], "data_offsets": [0, 24]})
        self.assertEqual(header["b"], {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]})
        body = data[8 + length:]
        self.assertEqual(body[24:], struct.pack("<2f", 1.5, -2.0))
        self.assertEqual(body[:24], struct.pack("<3q", 0, 1, 2))

    def test_round_trip_keeps_values_shapes_and_dtypes(self):
        tensors = {
            "0.weight": np.random.default_rng(0).standard_normal((4, 3, 2)).astype(np.float32),
            "0.bias": np.zeros(4, np.float32),
            "1.num_batches_tracked": np.array(7, np.int64),
            "big_endian": np.arange(5, dtype=">f4"),
            "empty": np.zeros((0, 3), np.float32),
            "half": np.array([0.5, 1.0], np.float16),
        }
        save_safetensors(self.path, tensors)
        loaded = load_safetensors(self.path)
        self.assertEqual(set(loaded), set(tensors))
        for key, value in tensors.items():
            np.testing.assert_array_equal(loaded[key], value, err_msg=key)
            self.assertEqual(loaded[key].shape, value.shape)
            self.assertEqual(loaded[key].dtype, value.dtype.newbyteorder("="))
            self.assertTrue(loaded[key].flags.writeable)

    def test_reads_bf16_as_float32(self):
        header = json.dumps({"x": {"dtype": "BF16", "shape": [2],
                                   "data_offsets": [0, 4]}}).encode()
        with open(self.path, "wb") as f:
            # 1.0 and -2.0 in bfloat16 are the high halves of their float32 patterns.
            f.write(struct.pack("<Q", len(header)) + header + struct.pack("<2H", 0x3F80, 0xC000))
        np.testing.assert_array_equal(load_safetensors(self.path)["x"], [1.0, -2.0])

    def test_malformed_files_name_the_file_and_the_problem(self):
        header = json.dumps({"x": {"dtype": "F32", "shape": [4],
                                   "data_offsets": [0, 8]}}).encode()
        with open(self.path, "wb") as f:
            f.write(struct.pack("<Q", len(header)) + header + bytes(8))
        with self.assertRaisesRegex(ValueError, r"model\.safetensors: tensor 'x': 8 bytes do "
                                                r"not hold a F32 tensor of shape \[4\]"):
            load_safetensors(self.path)
        with open(self.path, "wb") as f:
            f.write(struct.pack("<Q", 1000) + b"{}")
        with self.assertRaisesRegex(ValueError, "header length 1000 exceeds the file size"):
            load_safetensors(self.path)

    def test_rejects_types_without_a_safetensors_dtype(self):
        with self.assertRaisesRegex(ValueError, "tensor 'c': dtype complex64"):
            encode_safetensors({"c": np.zeros(2, np.complex64)})


if __name__ == "__main__":
    unittest.main()
