"""`python -m modelserve_scoring.batch batch|batch-merge …`."""

import sys

from modelserve_scoring.batch.cli import main

sys.exit(main())
