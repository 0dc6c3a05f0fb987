"""``python -m tracegrad``: the same as the ``tracegrad`` command."""

import sys

from ._cli import main

sys.exit(main())
