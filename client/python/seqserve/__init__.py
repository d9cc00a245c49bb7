"""seqserve: the Python side of the seqserve inference server.

- seqserve.Client: call a running server (KServe v2 / Triton gRPC) with NumPy arrays.
- seqserve.export: write a live torch.nn.Sequential into a model repository
  (model.seq, model.safetensors, config.pbtxt); also `python3 -m seqserve.export`.
- seqserve.load_safetensors / save_safetensors: the weights format, without extra packages.

Needs grpcio, protobuf and NumPy; torch only for exporting (imported on first use).
"""
from seqserve.client import Client, ServerError
from seqserve.config import config_pbtxt
# The package seqserve.export holds the exporter; the name seqserve.export is its export()
# function, which this import binds over the submodule (importing a submodule sets it as an
# attribute of its package first). `python3 -m seqserve.export` runs seqserve/export/__main__.
from seqserve.export import SUPPORTED_MODULES, ExportError, export, model_seq_text
from seqserve.safetensors import load_safetensors, save_safetensors

__all__ = [
    "Client", "ServerError", "export", "ExportError", "model_seq_text", "config_pbtxt",
    "SUPPORTED_MODULES", "load_safetensors", "save_safetensors",
]
__version__ = "0.1.0"
