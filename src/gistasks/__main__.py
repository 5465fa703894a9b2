"""``python -m gistasks``."""

import sys

from gistasks.cli import main

sys.exit(main())
