"""`python -m modelserve_scoring.train --output … [--spec …]`."""

import sys

from modelserve_scoring.train.cli import main

sys.exit(main())
