"""``python -m bench [--quick|--full] [--only P1,P3]``: run the suite and write ``bench/RESULTS.md``."""

import sys

from bench.runner import main

sys.exit(main())
