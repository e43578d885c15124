"""``python -m listkit`` and ``spark-submit .../listkit/__main__.py``: the ``listkit`` command."""

import sys

from listkit.cli import main

sys.exit(main())
