"""``python -m engine``: same as the ``qix-engine`` console script."""

import sys

from engine.cli import main

sys.exit(main())
