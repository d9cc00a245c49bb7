"""config.pbtxt from the dict form or from text, validated against ModelConfig."""
import unittest

from google.protobuf import text_format

from seqserve import config_pbtxt
from seqserve._proto import model_config_pb2


def parse(text):
    return text_format.Parse(text, model_config_pb2.ModelConfig())


class ConfigPbtxtTest(unittest.TestCase):
    def test_full_dict_writes_triton_style_text(self):
        text = config_pbtxt({
            "max_batch_size": 64,
            "input_dims": [1, 28, 28],
            "output_dims": [10],
            "dynamic_batching": {"max_queue_delay_microseconds": 200,
                                 "preferred_batch_size": [16, 32],
                                 "max_queue_size": 1024,
                                 "default_timeout_microseconds": 5000},
            "instance_count": 2,
            "intra_op_threads": 1,
        })
        self.assertEqual(text, (
            'max_batch_size: 64\n'
            'input [ { name: "input" data_type: TYPE_FP32 dims: [ 1, 28, 28 ] } ]\n'
            'output [ { name: "output" data_type: TYPE_FP32 dims: [ 10 ] } ]\n'
            'dynamic_batching {\n'
            '  max_queue_delay_microseconds: 200\n'
            '  preferred_batch_size: [ 16, 32 ]\n'
            '  default_queue_policy { max_queue_size: 1024 default_timeout_microseconds: 5000 }\n'
            '}\n'
            'instance_group [ { count: 2 kind: KIND_CPU } ]\n'
            'intra_op_threads: 1\n'))
        config = parse(text)
        self.assertEqual(list(config.input[0].dims), [1, 28, 28])
        self.assertEqual(config.dynamic_batching.default_queue_policy.max_queue_size, 1024)
        self.assertEqual(config.instance_group[0].count, 2)
        self.assertEqual(config.intra_op_threads, 1)

    def test_precision_is_the_parameters_entry_the_server_reads(self):
        text = config_pbtxt({"precision": "bf16"})
        self.assertEqual(text, 'max_batch_size: 64\ndynamic_batching { }\n'
                               'parameters { key: "precision" value: { string_value: "bf16" } }\n')
        self.assertEqual(parse(text).parameters["precision"].string_value, "bf16")
        self.assertIn('string_value: "int8"', config_pbtxt({"precision": "int8"}))
        with self.assertRaisesRegex(ValueError, r"config\['precision'\] must be one of fp32, bf16, "
                                                r"int8, got 'fp16'"):
            config_pbtxt({"precision": "fp16"})

    def test_empty_dict_keeps_the_no_config_defaults(self):
        # What seqserve does without any config.pbtxt: batch up to 64, dynamic batching on.
        self.assertEqual(config_pbtxt({}), "max_batch_size: 64\ndynamic_batching { }\n")

    def test_batching_off(self):
        self.assertEqual(config_pbtxt({"max_batch_size": 0, "dynamic_batching": False}),
                         "max_batch_size: 0\n")

    def test_names_and_free_dims(self):
        text = config_pbtxt({"input_name": "x", "input_dims": [3, -1, -1],
                             "output_name": "y", "dynamic_batching": None})
        self.assertEqual(parse(text).input[0].name, "x")
        self.assertEqual(list(parse(text).input[0].dims), [3, -1, -1])
        self.assertIn('output [ { name: "y" data_type: TYPE_FP32 } ]', text)

    def test_input_data_type_for_id_models(self):
        text = config_pbtxt({"input_dims": [128]}, "TYPE_INT64")
        self.assertEqual(parse(text).input[0].data_type, model_config_pb2.TYPE_INT64)
        self.assertEqual(config_pbtxt({"input_dims": [128]}, "TYPE_INT64"),
                         config_pbtxt({"input_dims": [128]}).replace("FP32", "INT64"))
        with self.assertRaisesRegex(ValueError, "input_data_type must be TYPE_FP32, "
                                                "TYPE_INT64 or TYPE_INT32, got 'TYPE_FP16'"):
            config_pbtxt({"input_dims": [4]}, "TYPE_FP16")

    def test_text_is_kept_verbatim_after_validation(self):
        text = 'max_batch_size: 8\ninstance_group [ { count: 1 kind: KIND_CPU } ]\n'
        self.assertEqual(config_pbtxt(text), text)
        self.assertEqual(config_pbtxt("max_batch_size: 8"), "max_batch_size: 8\n")

    def test_errors_say_what_is_wrong(self):
        with self.assertRaisesRegex(ValueError, r"unknown config key\(s\) max_batch"):
            config_pbtxt({"max_batch": 4})
        with self.assertRaisesRegex(ValueError, r"unknown dynamic_batching key\(s\) delay"):
            config_pbtxt({"dynamic_batching": {"delay": 4}})
        with self.assertRaisesRegex(ValueError, r"config\['instance_count'\] must be an "
                                                r"integer >= 1, got 0"):
            config_pbtxt({"instance_count": 0})
        with self.assertRaisesRegex(ValueError, r"config\['input_dims'\] entries must be "
                                                r"positive ints or -1, got 0"):
            config_pbtxt({"input_dims": [1, 0]})
        with self.assertRaisesRegex(ValueError, r"config\['max_batch_size'\] must be an "
                                                r"integer >= 0, got True"):
            config_pbtxt({"max_batch_size": True})
        with self.assertRaisesRegex(ValueError, r"config\.pbtxt: 1:1 : .*backend"):
            config_pbtxt('backend: "pytorch"\n')
        with self.assertRaisesRegex(ValueError, "must be a dict or the text"):
            config_pbtxt(64)


if __name__ == "__main__":
    unittest.main()
