"""Echo the input back (JSON as the solution, text under ``text``, archive inputs as ``files``),
honouring -sleep and -fail."""

import json
import os
import sys
import time


def option(name: str, default: str) -> str:
    """An option from argv (``-name value``) or the environment, as the platform passes them."""
    argv = sys.argv[1:]
    for i, arg in enumerate(argv):
        if arg.lstrip("-") == name and i + 1 < len(argv):
            return argv[i + 1]
    return os.environ.get(name.upper(), os.environ.get(name, default))


def main() -> None:
    raw = sys.stdin.read()
    for i in range(3):
        print(f"echo: line {i}", file=sys.stderr, flush=True)
    time.sleep(float(option("sleep", "0")))
    if option("fail", "false").lower() == "true":
        print("echo: failing on purpose", file=sys.stderr, flush=True)
        sys.exit(1)
    archive = next((d for d in ("input", "inputs") if os.path.isdir(d)), None)
    if archive and not raw:
        solution = {"files": {os.path.relpath(os.path.join(root, name), archive): open(os.path.join(root, name)).read()
                              for root, _, names in os.walk(archive) for name in names}}
    else:
        try:
            solution = json.loads(raw)
        except ValueError:
            solution = {"text": raw}
    json.dump({"solution": solution, "statistics": {"result": {"value": 1}}}, sys.stdout)


if __name__ == "__main__":
    main()
