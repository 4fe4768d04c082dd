"""Report the version of ``six`` it imports, proving the app's requirements were installed."""

import json
import sys

import six


def main() -> None:
    data = json.load(sys.stdin)
    print(f"with-req: six {six.__version__}", file=sys.stderr, flush=True)
    json.dump(
        {"solution": {"six": six.__version__, "input": data}, "statistics": {"result": {"value": 1}}},
        sys.stdout,
    )


if __name__ == "__main__":
    main()
