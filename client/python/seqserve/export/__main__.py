"""`python3 -m seqserve.export MODULE:ATTRIBUTE REPOSITORY NAME [--version N] [--config FILE]`."""
import sys

from seqserve.export.cli import main

sys.exit(main())
