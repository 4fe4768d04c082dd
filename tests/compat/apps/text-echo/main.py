"""Read the input as text (stdin) and write JSON: the text, its length and its upper-case form."""

import json
import sys


def main() -> None:
    text = sys.stdin.read()
    print(f"text-echo: read {len(text)} characters", file=sys.stderr, flush=True)
    json.dump({"solution": {"text": text, "upper": text.upper(), "length": len(text)}}, sys.stdout)


if __name__ == "__main__":
    main()
