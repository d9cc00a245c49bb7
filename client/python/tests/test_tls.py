#!/usr/bin/python3
"""seqserve.Client over TLS and with the admin header, against a real `seqserve` started with
--grpc-use-ssl-mutual and --grpc-restricted-protocol=model-repository:admin-key=...

Certificates are made at test time with Debian's openssl CLI (a test CA, a server
certificate for 127.0.0.1, a client certificate; EC P-256, valid two days). Needs the
bundled models (models/) and build/bin/seqserve ($SEQSERVE_BIN_DIR under ctest); exits 77
(ctest's SKIP_RETURN_CODE) when the binary or openssl is missing.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import numpy as np

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
PROJECT_ROOT = PACKAGE_ROOT.parents[1]
if str(PACKAGE_ROOT) not in sys.path:
    sys.path.insert(0, str(PACKAGE_ROOT))

from seqserve.client import Client, ServerError, restricted_protocol_header  # noqa: E402

BIN_DIR = Path(os.environ.get("SEQSERVE_BIN_DIR", PROJECT_ROOT / "build" / "bin"))
SEQSERVE = BIN_DIR / "seqserve"
GRPC_PORT_LINE = re.compile(r"listening for gRPC\b.*:(\d+)\s*$")
SKIP = 77


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certs(directory: Path) -> None:
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-days", "2", "-keyout", str(directory / "ca.key"),
            "-out", str(directory / "ca.crt"), "-subj", "/CN=seqserve test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, extensions in [
            ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
            ("client", "extendedKeyUsage=clientAuth\n")]:
        (directory / f"{name}.ext").write_text("basicConstraints=CA:FALSE\n" + extensions)
        openssl("req", *ec, "-keyout", str(directory / f"{name}.key"),
                "-out", str(directory / f"{name}.csr"), "-subj", f"/CN={name}")
        openssl("x509", "-req", "-days", "2", "-in", str(directory / f"{name}.csr"),
                "-CA", str(directory / "ca.crt"), "-CAkey", str(directory / "ca.key"),
                "-CAcreateserial", "-out", str(directory / f"{name}.crt"),
                "-extfile", str(directory / f"{name}.ext"))


class TlsClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.TemporaryDirectory(prefix="seqserve_tls_")
        cls.dir = Path(cls.tmp.name)
        make_certs(cls.dir)
        cls.log_path = cls.dir / "seqserve.log"
        cls.log = open(cls.log_path, "w")
        cls.server = subprocess.Popen(
            [str(SEQSERVE), f"--model-repository={PROJECT_ROOT / 'models'}", "--grpc-port=0",
             "--http-port=0", "--metrics-port=0", "--address=127.0.0.1",
             "--model-control-mode=explicit", "--load-model=lenet",
             "--grpc-use-ssl-mutual", f"--grpc-server-cert={cls.dir / 'server.crt'}",
             f"--grpc-server-key={cls.dir / 'server.key'}",
             f"--grpc-root-cert={cls.dir / 'ca.crt'}",
             "--grpc-restricted-protocol=model-repository:admin-key=s3cret"],
            stdout=cls.log, stderr=subprocess.STDOUT)
        cls.port = None
        deadline = time.time() + 60
        while cls.port is None and time.time() < deadline:
            if cls.server.poll() is not None:
                raise RuntimeError(cls.log_path.read_text())
            for line in cls.log_path.read_text().splitlines():
                match = GRPC_PORT_LINE.search(line)
                if match:
                    cls.port = int(match.group(1))
            time.sleep(0.05)
        if cls.port is None:
            raise RuntimeError("seqserve did not start:\n" + cls.log_path.read_text())

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.terminate()
        cls.server.wait(timeout=60)
        cls.log.close()
        cls.tmp.cleanup()

    def client(self, **kwargs) -> Client:
        return Client(f"127.0.0.1:{self.port}", timeout=20, **kwargs)

    def pem(self, name: str) -> bytes:
        return (self.dir / name).read_bytes()

    def test_mutual_tls_client_infers_and_admin_header_unlocks_repository_control(self):
        tls = dict(ssl=True, root_certificates=self.pem("ca.crt"),
                   private_key=self.pem("client.key"), certificate_chain=self.pem("client.crt"))
        x = np.zeros((1, 1, 28, 28), np.float32)
        with self.client(**tls) as plain:
            self.assertTrue(plain.server_live())
            self.assertEqual(plain.infer("lenet", x).shape, (1, 10))
            with self.assertRaises(ServerError) as denied:
                plain.unload("lenet")
            self.assertEqual(denied.exception.code, "PERMISSION_DENIED")
            self.assertIn("triton-grpc-protocol-admin-key", denied.exception.message)
        admin = {restricted_protocol_header("admin-key"): "s3cret"}
        with self.client(headers=admin, **tls) as operator:
            operator.unload("lenet")
            self.assertFalse(operator.model_ready("lenet"))
            operator.load("lenet")
            self.assertTrue(operator.model_ready("lenet"))

    def test_client_without_certificate_or_tls_cannot_connect(self):
        with self.client(ssl=True, root_certificates=self.pem("ca.crt")) as anonymous:
            with self.assertRaises(ServerError) as refused:
                anonymous.server_live()
            self.assertEqual(refused.exception.code, "UNAVAILABLE")
        with self.client() as plain_text:
            with self.assertRaises(ServerError) as refused:
                plain_text.server_live()
            self.assertEqual(refused.exception.code, "UNAVAILABLE")


if __name__ == "__main__":
    if not os.access(SEQSERVE, os.X_OK) or shutil.which("openssl") is None:
        print(f"skipped: needs {SEQSERVE} and the openssl CLI", file=sys.stderr)
        sys.exit(SKIP)
    unittest.main()
