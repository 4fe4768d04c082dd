"""Echo the JSON input as the solution, with argv and options; log ``-lines`` lines over ``-sleep`` seconds.

It never prints a secret: it reports the SHA-256 of env ``RY_SECRET_TOKEN`` and of file
``licenses/ry.lic`` (relative to the working directory), so a leaked value can only come from the server.
"""

import hashlib
import json
import os
import sys
import time

SECRET_ENV = "RY_SECRET_TOKEN"
SECRET_FILE = os.path.join("licenses", "ry.lic")


def digest(text):
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def main() -> None:
    argv = sys.argv[1:]
    options = {argv[i].lstrip("-"): argv[i + 1] for i in range(0, len(argv) - 1, 2)}
    data = json.load(sys.stdin)
    lines, sleep = int(options.get("lines", "0")), float(options.get("sleep", "0"))
    for i in range(lines):
        print(f"ctl-json: line {i}", file=sys.stderr, flush=True)
        time.sleep(sleep / lines)
    if not lines:
        time.sleep(sleep)
    secret_file = None
    if os.path.exists(SECRET_FILE):
        with open(SECRET_FILE, encoding="utf-8") as fh:
            secret_file = fh.read()
    json.dump(
        {
            "solution": data,
            "argv": argv,
            "options": options,
            "secrets": {"env": digest(os.environ.get(SECRET_ENV)), "file": digest(secret_file)},
            "statistics": {"result": {"value": len(data)}},
        },
        sys.stdout,
    )
    print("ctl-json: done", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
