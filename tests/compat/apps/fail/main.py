"""An app that fails: it writes ``boom`` to stderr and exits with status 3."""

import sys

if __name__ == "__main__":
    print("boom", file=sys.stderr, flush=True)
    sys.exit(3)
