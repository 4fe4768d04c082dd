"""Echo the JSON input back as the solution, with one statistic, logging two lines to stderr."""

import json
import sys


def main() -> None:
    data = json.load(sys.stdin)
    print(f"echo-json: read {len(data)} keys", file=sys.stderr, flush=True)
    json.dump({"solution": data, "statistics": {"result": {"value": 1}}}, sys.stdout)
    print("echo-json: wrote the solution", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
