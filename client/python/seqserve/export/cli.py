"""`python3 -m seqserve.export MODULE:ATTRIBUTE REPOSITORY NAME [--version N] [--config FILE]`:
exports a model defined in a Python file or module."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqserve.export.files import export
from seqserve.export.tree import ExportError


def load_model(spec: str) -> Any:
    """The model named by "module:attribute": module is a dotted import path (found on
    sys.path or in the current directory) or the path of a .py file; attribute (dotted
    names allowed) is an nn.Module or a function of no arguments that returns one."""
    module_part, sep, attribute = spec.rpartition(":")
    if not sep or not module_part or not attribute:
        raise ValueError(f"expected MODULE:ATTRIBUTE (e.g. mymodels.py:build or "
                         f"pkg.models:net), got {spec!r}")
    if module_part.endswith(".py") or "/" in module_part or os.sep in module_part:
        path = Path(module_part).resolve()
        if not path.is_file():
            raise ValueError(f"no such file: {module_part}")
        # Its own directory first, so that the file can import its neighbours.
        sys.path.insert(0, str(path.parent))
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[path.stem] = module
        module_spec.loader.exec_module(module)
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        module = importlib.import_module(module_part)
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise ValueError(f"{module_part} has no attribute {attribute!r}")
        value = getattr(value, part)
    from torch import nn
    if callable(value) and not isinstance(value, nn.Module):
        value = value()
    if not isinstance(value, nn.Module):
        raise ValueError(f"{spec} is a {type(value).__name__}, not an nn.Sequential (or a "
                         f"function returning one)")
    return value


def _read_config(path: str) -> dict[str, Any] | str:
    text = Path(path).read_text(encoding="utf-8")
    return json.loads(text) if path.endswith(".json") else text


def main(argv: Sequence[str] | None = None) -> int:
    """`python3 -m seqserve.export MODULE:ATTRIBUTE REPOSITORY NAME [--version N]
    [--config FILE]`; returns the exit status (0 ok, 1 export refused, 2 usage error)."""
    parser = argparse.ArgumentParser(
        prog="python3 -m seqserve.export",
        description="Export a torch.nn.Sequential defined in a Python file or module into a "
                    "seqserve model repository (model.seq, model.safetensors, config.pbtxt).")
    parser.add_argument("model", metavar="MODULE:ATTRIBUTE",
                        help="e.g. mynet.py:model or mypkg.nets:build_mlp (an nn.Sequential or "
                             "a function of no arguments returning one)")
    parser.add_argument("repository", help="model repository directory (created if missing)")
    parser.add_argument("name", help="model name (its directory in the repository)")
    parser.add_argument("--version", type=int, default=1, help="version number (default 1)")
    parser.add_argument("--config", metavar="FILE",
                        help="config.pbtxt to install, or a .json file with the dict that "
                             "seqserve.export(config=...) takes")
    args = parser.parse_args(argv)
    try:
        config = _read_config(args.config) if args.config else None
        model = load_model(args.model)
        version_dir = export(model, args.repository, args.name, args.version, config)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ValueError, OSError, ImportError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    written = sorted(p.name for p in version_dir.iterdir() if not p.name.startswith("."))
    print(f"exported {args.model} to {version_dir}: {', '.join(written)}"
          + (f" and {version_dir.parent / 'config.pbtxt'}" if config is not None else ""))
    return 0
