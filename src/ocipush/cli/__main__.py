"""``python -m ocipush.cli``: the ``ocipush`` command."""

import sys

from ocipush.cli import main

sys.exit(main())
