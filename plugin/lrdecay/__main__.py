"""`python -m lrdecay`: the `lrdecay` command, as the installed script runs it."""

import sys

from lrdecay.cli.main import main

sys.exit(main())
