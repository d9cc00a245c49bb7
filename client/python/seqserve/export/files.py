"""Writing a model into a repository: model.seq, model.safetensors and config.pbtxt, each
replaced atomically so that a server polling the repository never reads a half-written
file."""
from __future__ import annotations

import numbers
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from seqserve.config import config_pbtxt
from seqserve.export.tree import write_model
from seqserve.safetensors import encode_safetensors

_HEADER = ("# Exported by seqserve.export from a live torch.nn.Sequential (torch {version}).\n"
           "# Served with eval() semantics: BatchNorm uses its running statistics, Dropout is\n"
           "# the identity, whatever mode the model was in when exported.\n")


def state_dict_arrays(model: Any) -> dict[str, np.ndarray]:
    """The model's state_dict as NumPy arrays: floating-point tensors as float32 (seqserve
    computes in float32), the norms' num_batches_tracked kept as int64 so that PyTorch's
    load_state_dict(strict=True) accepts the file too (seqserve ignores it)."""
    arrays = {}
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        if tensor.is_floating_point():
            arrays[key] = tensor.float().contiguous().numpy()
        else:
            arrays[key] = tensor.contiguous().numpy()
    return arrays


def _write_atomically(path: Path, data: bytes) -> None:
    """Writes via a temporary file and rename, so that a server polling the repository never
    reads a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _seqserve_binary(given: str | os.PathLike | None) -> str:
    """The seqserve binary: `given`, else $SEQSERVE_BINARY, else `seqserve` on PATH."""
    for candidate in (given, os.environ.get("SEQSERVE_BINARY"), shutil.which("seqserve")):
        if candidate:
            return str(candidate)
    raise RuntimeError("calibration runs `seqserve calibrate`, and no seqserve binary was found: "
                       "pass seqserve_binary=, set SEQSERVE_BINARY, or put seqserve on PATH")


def calibrate(version_dir: str | os.PathLike, samples: Any,
              seqserve_binary: str | os.PathLike | None = None) -> str:
    """Runs `seqserve calibrate` on the model in `version_dir` with `samples` (an array or
    tensor of representative inputs, (N, *input)): writes int8_calibration.txt there, which a
    model configured {"precision": "int8"} loads with. The ranges are measured by seqserve's
    own fp32 engine, so that they belong to exactly the files it serves. Returns the command's
    report (the ranges, and int8's agreement with fp32 on every fifth sample, held out).
    RuntimeError with the command's message when it fails."""
    binary = _seqserve_binary(seqserve_binary)
    array = samples.detach().cpu().numpy() if hasattr(samples, "detach") else np.asarray(samples)
    if array.dtype.kind == "f":
        array = array.astype(np.float32)
    fd, path = tempfile.mkstemp(prefix=".calibration.", suffix=".npy", dir=version_dir)
    os.close(fd)
    try:
        np.save(path, np.ascontiguousarray(array))
        done = subprocess.run([binary, "calibrate", str(version_dir), "--data", path],
                              capture_output=True, text=True)
    finally:
        os.unlink(path)
    if done.returncode != 0:
        raise RuntimeError(f"seqserve calibrate failed: {done.stderr.strip()}")
    return done.stdout


def export(model: Any, repository: str | os.PathLike, name: str, version: int = 1,
           config: dict[str, Any] | str | None = None, calibration: Any = None,
           seqserve_binary: str | os.PathLike | None = None) -> Path:
    """Writes `model` (a torch.nn.Sequential) as version `version` of model `name` in the
    seqserve model repository `repository`, and returns the version directory.

    Files: <repository>/<name>/<version>/model.seq and model.safetensors (omitted, and any old
    one removed, when the model has no parameters), and <repository>/<name>/config.pbtxt when
    `config` is given: a dict (see seqserve.config.config_pbtxt; an input entry it writes has
    data_type TYPE_INT64 when the model's first module is an Embedding or EmbeddingBag, else
    TYPE_FP32) or the text of a config.pbtxt. Without `config`, an existing config.pbtxt is
    left as it is.

    `calibration`: representative inputs (N, *input), for a model served in int8: after the
    files are written, seqserve.export.calibrate measures the ranges with the seqserve binary
    (`seqserve_binary`, else $SEQSERVE_BINARY, else PATH) and writes int8_calibration.txt
    beside them.

    The model is served with eval() semantics whatever mode it is in now: BatchNorm uses its
    running statistics and Dropout does nothing. Every check runs before anything is written:
    ExportError lists every unsupported module by path and type.
    """
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name \
            or os.sep in name:
        raise ValueError(f"model name {name!r} must be a non-empty directory name")
    if isinstance(version, bool) or not isinstance(version, numbers.Integral) or version < 1:
        raise ValueError(f"version must be a positive integer, got {version!r}")
    import torch

    written = write_model(model)
    text = _HEADER.format(version=torch.__version__) + written.text
    arrays = state_dict_arrays(model)
    weights = encode_safetensors(arrays, {"format": "pt"}) if arrays else None
    # A model that starts with an Embedding takes int64 ids, which the dict form's input says.
    input_type = "TYPE_INT64" if written.takes_ids else "TYPE_FP32"
    config_text = config_pbtxt(config, input_type) if config is not None else None

    model_dir = Path(repository) / name
    version_dir = model_dir / str(int(version))
    version_dir.mkdir(parents=True, exist_ok=True)
    _write_atomically(version_dir / "model.seq", text.encode("utf-8"))
    if weights is not None:
        _write_atomically(version_dir / "model.safetensors", weights)
    else:
        (version_dir / "model.safetensors").unlink(missing_ok=True)
    if config_text is not None:
        _write_atomically(model_dir / "config.pbtxt", config_text.encode("utf-8"))
    if calibration is not None:
        calibrate(version_dir, calibration, seqserve_binary)
    return version_dir
