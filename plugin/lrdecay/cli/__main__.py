"""`python -m lrdecay.cli`: the `lrdecay` command."""

import sys

from lrdecay.cli.main import main

sys.exit(main())
