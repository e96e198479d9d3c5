"""`python -m bot`: the same as the `stadtretter` command."""

import sys

from bot.cli import main

sys.exit(main())
