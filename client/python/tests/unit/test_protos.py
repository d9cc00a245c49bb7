"""The committed *_pb2.py files must be exactly what regenerate_protos.sh makes from proto/."""
import filecmp
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


@unittest.skipIf(shutil.which("protoc") is None, "protoc (protobuf-compiler) not installed")
class GeneratedProtosTest(unittest.TestCase):
    def test_committed_files_match_a_fresh_regeneration(self):
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([str(PACKAGE_ROOT / "regenerate_protos.sh"), tmp], check=True)
            for name in ("grpc_service_pb2.py", "model_config_pb2.py"):
                committed = PACKAGE_ROOT / "seqserve" / "_proto" / name
                self.assertTrue(
                    filecmp.cmp(committed, Path(tmp) / name, shallow=False),
                    f"{committed} is stale: run client/python/regenerate_protos.sh")

    def test_generated_modules_import_inside_the_package(self):
        from seqserve._proto import grpc_service_pb2, model_config_pb2
        self.assertEqual(grpc_service_pb2.DESCRIPTOR.package, "inference")
        self.assertIn("ModelConfig", model_config_pb2.DESCRIPTOR.message_types_by_name)


if __name__ == "__main__":
    unittest.main()
