"""`python -m server` is the `bidroom` command."""

import sys

from server.cli import main

sys.exit(main())
