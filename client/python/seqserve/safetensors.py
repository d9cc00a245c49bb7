"""A small reader and writer of the safetensors format, so that neither the exporter nor the
Python baseline server needs the third-party `safetensors` package (not in Debian 12).

The format: an unsigned little-endian 64-bit header length, a JSON header mapping each tensor
name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets into the data area that
follows the header), an optional "__metadata__" object of strings, then the data, row-major and
little-endian. The header is padded with spaces to a multiple of 8 bytes, as the reference
implementation does, so that every tensor starts aligned.
"""
from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping

import numpy as np

# safetensors dtype names <-> NumPy little-endian dtypes (BF16 has no NumPy type).
_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1",
    "BOOL": "?",
}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}


def encode_safetensors(tensors: Mapping[str, np.ndarray],
                       metadata: Mapping[str, str] | None = None) -> bytes:
    """Returns the safetensors file contents for `tensors` (name -> array).

    Arrays keep their dtype (convert to float32 before calling if that is what you want).
    Tensors are laid out in name order, so equal inputs give byte-identical files.
    """
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved and cannot name a tensor")
        array = np.asarray(tensors[name])
        key = _NAMES.get(array.dtype.newbyteorder("<"))
        if key is None:
            raise ValueError(f"tensor '{name}': dtype {array.dtype} has no safetensors equivalent")
        raw = np.ascontiguousarray(array, dtype=_DTYPES[key]).tobytes()
        header[name] = {"dtype": key, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return b"".join([struct.pack("<Q", len(text)), text, *blobs])


def save_safetensors(path: str | os.PathLike, tensors: Mapping[str, np.ndarray],
                     metadata: Mapping[str, str] | None = None) -> None:
    """Writes `tensors` to `path` in safetensors format (see encode_safetensors)."""
    with open(path, "wb") as f:
        f.write(encode_safetensors(tensors, metadata))


def load_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a safetensors file into name -> NumPy array (native byte order, writable copies).

    Raises ValueError naming the file and the problem for a malformed file; BF16 tensors are
    widened to float32 (NumPy has no bfloat16).
    """
    with open(path, "rb") as f:
        data = f.read()
    where = os.fspath(path)
    if len(data) < 8:
        raise ValueError(f"{where}: too short to be a safetensors file")
    (header_len,) = struct.unpack_from("<Q", data, 0)
    if 8 + header_len > len(data):
        raise ValueError(f"{where}: header length {header_len} exceeds the file size")
    try:
        header = json.loads(data[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{where}: header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{where}: header is not a JSON object")
    body = memoryview(data)[8 + header_len:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype_name = entry["dtype"]
            shape = [int(d) for d in entry["shape"]]
            begin, end = (int(o) for o in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"{where}: tensor '{name}': malformed header entry {entry!r}") from None
        if not 0 <= begin <= end <= len(body):
            raise ValueError(f"{where}: tensor '{name}': data_offsets [{begin}, {end}] are "
                             f"outside the data area of {len(body)} bytes")
        if dtype_name == "BF16":
            halves = np.frombuffer(body[begin:end], dtype="<u2").astype(np.uint32)
            array = (halves << 16).view(np.float32)
        elif dtype_name in _DTYPES:
            array = np.frombuffer(body[begin:end], dtype=_DTYPES[dtype_name])
        else:
            raise ValueError(f"{where}: tensor '{name}': unknown dtype '{dtype_name}'")
        if array.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"{where}: tensor '{name}': {end - begin} bytes do not hold a "
                             f"{dtype_name} tensor of shape {shape}")
        tensors[name] = array.reshape(shape).astype(array.dtype.newbyteorder("="))
    return tensors
