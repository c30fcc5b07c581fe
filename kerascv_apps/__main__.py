"""`python -m kerascv_apps ...`: the same command line as the `kerascv-apps` script."""

import sys

from kerascv_apps.cli import main

sys.exit(main())
