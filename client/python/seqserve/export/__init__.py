"""seqserve.export: writes a live torch.nn.Sequential into a seqserve model repository.

model.seq is regenerated from the modules' constructor arguments as PyTorch stores them on
the live objects (not from the source that built them), so a model built in a loop, by a
function, with .append() or edited after construction exports the same as a literal one.
The exporter refuses, before writing anything, every module seqserve cannot serve exactly:
types outside SPEC §3, subclasses (their forward may differ), configurations the server
rejects (BatchNorm without running statistics, return_indices=True, Embedding's max_norm,
...), hooks, and parameters that do not match the constructor arguments.

The package, one job per module:
- literals: constructor argument values as model.seq source;
- writers/: one writer per supported module type, one file per module family, and the table
  of them (SUPPORTED_MODULES, which must equal the engine's registry: `seqserve modules`);
- tree: the walk over a nested Sequential, collecting every problem (ExportError);
- files: the files written into the repository (export);
- cli: `python3 -m seqserve.export` (__main__).

`seqserve.export` as an attribute of the seqserve package is the export() function (see
seqserve/__init__.py); reach this package's modules with `from seqserve.export import ...`.
torch is imported only when exporting, so `import seqserve` works without it.
"""
from seqserve.export.files import calibrate, export, state_dict_arrays
from seqserve.export.tree import ExportError, model_seq_text
from seqserve.export.writers import SUPPORTED_MODULES

__all__ = ["calibrate", "export", "ExportError", "model_seq_text", "state_dict_arrays", "SUPPORTED_MODULES"]
