"""`python3 -m seqserve.export MODULE:ATTRIBUTE REPOSITORY NAME [--version N] [--config FILE]`.

The implementation lives in seqserve.exporter. The package attribute seqserve.export is the
export() function; importing this module as seqserve.export would replace that attribute
with the module, so the module is made callable and forwards to export().
"""
import sys
import types

from seqserve.exporter import export, main


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    sys.exit(main())
