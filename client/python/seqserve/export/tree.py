"""The tree walk: a live nn.Sequential (nested, positional or OrderedDict) checked module by
module and written as model.seq text. Every problem anywhere in the tree is collected, so
ExportError lists them all at once."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from seqserve.export.literals import Inexpressible, quote
from seqserve.export.writers import ID_MODULES, IDENTITIES, SUPPORTED_MODULES, Call, Writer, \
    writer_table


class ExportError(ValueError):
    """The model cannot be exported; `problems` lists each offending module, one line each
    ("features.3 (MyBlock): ..."), and the message shows them all."""

    def __init__(self, problems: Sequence[str], footer: str = ""):
        self.problems = list(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"cannot export this model for seqserve ({count} {noun}); "
                         f"nothing was written:\n" + "\n".join(f"  {p}" for p in self.problems)
                         + (f"\n{footer}" if footer else ""))


@dataclass
class Node:
    """A Sequential (children set) or a leaf module call."""
    call: Call | None = None
    children: list[tuple[str, Node]] | None = None


@dataclass
class WrittenModel:
    """model.seq text and what the config writer needs to know about the model."""
    text: str
    # The first module that computes (Identity and the dropouts aside) takes integer ids
    # (Embedding, EmbeddingBag): the model's input is then INT64 (or INT32), not FP32.
    takes_ids: bool


@dataclass
class _Walk:
    table: dict[type, Writer]
    problems: list[str] = field(default_factory=list)
    unknown_types: set[str] = field(default_factory=set)
    first_computing: str | None = None  # label of the first module that is not an identity
    takes_ids: bool = False


_HOOKS = ("{}: has forward hooks, which model.seq cannot express (remove them, or fold what "
          "they do into the model)")


def _label(path: str, module: Any) -> str:
    return f"{path or '(root)'} ({type(module).__name__})"


def _hook_problems(module: Any, path: str) -> list[str]:
    """Forward hooks on the module or, for a module with parts (a Transformer layer), on any
    of its parts: model.seq cannot express what they do."""
    problems = []
    for name, part in module.named_modules():
        if part._forward_hooks or part._forward_pre_hooks:
            where = f"{path}.{name}" if name and path else (name or path)
            problems.append(_HOOKS.format(_label(where, part)))
    return problems


def _visit(module: Any, path: str, walk: _Walk) -> Node:
    """Builds the node for `module`, recording in `walk` every problem found anywhere below
    it (and the name of every module type seqserve lacks)."""
    from torch import nn

    cls = type(module)
    if cls is nn.Sequential:
        if module._forward_hooks or module._forward_pre_hooks:
            walk.problems.append(_HOOKS.format(_label(path, module)))
        children = []
        for name, child in module.named_children():
            child_path = f"{path}.{name}" if path else name
            children.append((name, _visit(child, child_path, walk)))
        return Node(children=children)
    walk.problems.extend(_hook_problems(module, path))
    writer = walk.table.get(cls)
    if writer is None:
        walk.problems.append(f"{_label(path, module)}: {_unsupported_reason(module, walk)}")
        walk.unknown_types.add(cls.__name__)
        return Node()
    call = writer(module)
    try:
        call.source()
    except Inexpressible as e:
        call.problems.append(str(e))
    if not call.problems:  # otherwise a mismatch would only restate the problem
        call.problems.extend(_state_problems(module, call))
    _check_id_order(call, path, module, walk)
    walk.problems.extend(f"{_label(path, module)}: {p}" for p in call.problems)
    return Node(call=call)


def _check_id_order(call: Call, path: str, module: Any, walk: _Walk) -> None:
    """An Embedding takes integer ids, so it can only be the first module that computes:
    every module before it but Identity and the dropouts produces float32 (the engine's rule,
    core/model.cc)."""
    if call.type_name in IDENTITIES:
        return
    if walk.first_computing is None:
        walk.first_computing = _label(path, module)
        walk.takes_ids = call.type_name in ID_MODULES
    elif call.type_name in ID_MODULES:
        call.problems.append(f"takes integer ids, so it must be the model's first module; here "
                             f"it follows {walk.first_computing}, whose output is float32")


def _unsupported_reason(module: Any, walk: _Walk) -> str:
    from torch import nn

    cls = type(module)
    for base in cls.__mro__[1:]:
        if base is nn.Sequential or base in walk.table:
            return (f"a subclass of nn.{base.__name__}, whose forward may differ; seqserve "
                    f"runs only the torch.nn classes themselves")
    if cls.__module__.startswith("torch.nn"):
        return f"nn.{cls.__name__} is not supported by seqserve"
    return (f"custom module {cls.__module__}.{cls.__qualname__} is not supported: model.seq "
            f"holds only torch.nn modules")


def _state_problems(module: Any, call: Call) -> list[str]:
    """The module's own state_dict must be exactly what its model.seq line makes the server
    expect, or loading fails there; this catches parameters replaced or added by hand."""
    state = {k: v for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}
    actual = {k: tuple(v.shape) for k, v in state.items()}
    problems = []
    if actual != call.params:
        def show(params: dict[str, tuple[int, ...]]) -> str:
            return ", ".join(f"{k} {list(s)}" for k, s in sorted(params.items())) or "none"
        problems.append(f"its parameters ({show(actual)}) do not match what its constructor "
                        f"arguments describe ({show(call.params)})")
    for key, tensor in state.items():
        if not tensor.is_floating_point():
            problems.append(f"parameter '{key}' has dtype {tensor.dtype}; seqserve loads "
                            f"floating-point parameters only")
    return problems


def _format(node: Node, indent: int) -> str:
    pad = " " * indent
    inner = " " * (indent + 4)
    if node.children is None:
        return node.call.source()
    if not node.children:
        return "nn.Sequential()"
    names = [name for name, _ in node.children]
    if names == [str(i) for i in range(len(names))]:
        lines = [f"{inner}{_format(child, indent + 4)}," for _, child in node.children]
        return "nn.Sequential(\n" + "\n".join(lines) + f"\n{pad})"
    lines = [f"{inner}({quote(name)}, {_format(child, indent + 4)}),"
             for name, child in node.children]
    return "nn.Sequential(OrderedDict([\n" + "\n".join(lines) + f"\n{pad}]))"


def _check_root(model: Any) -> None:
    from torch import nn

    if type(model) is not nn.Sequential:
        what = (f"a subclass of nn.Sequential ({type(model).__qualname__}), whose forward may "
                f"differ" if isinstance(model, nn.Sequential) else type(model).__qualname__)
        raise ExportError([f"(root): the model must be a torch.nn.Sequential, got {what}"])


def write_model(model: Any) -> WrittenModel:
    """model.seq text for `model` and whether it takes integer ids; see model_seq_text."""
    _check_root(model)
    walk = _Walk(table=writer_table())
    root = _visit(model, "", walk)
    if walk.problems:
        raise ExportError(walk.problems, f"seqserve supports: Sequential, "
                                         f"{', '.join(SUPPORTED_MODULES)}"
                          if walk.unknown_types else "")
    return WrittenModel(text=_format(root, 0) + "\n", takes_ids=walk.takes_ids)


def model_seq_text(model: Any) -> str:
    """The model.seq expression for `model` (without the export header comment).

    Plain Sequentials are written positionally; a Sequential whose children have other names
    than 0, 1, ... is written as nn.Sequential(OrderedDict([...])) so the state_dict keys stay
    the same; nesting is kept; only arguments that differ from PyTorch's defaults are written.
    Raises ExportError listing every module seqserve cannot serve.
    """
    return write_model(model).text
