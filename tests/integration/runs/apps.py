"""The apps these tests push: tiny Python bundles whose behaviour the run's input scripts.

One ``main.py`` serves every JSON test, so every run shares one uv-built environment. Its input is
``{"steps": [...]}``; each step is a one-key object:

* ``{"log": text}``: a line on stderr (the run log);
* ``{"sleep": seconds}``;
* ``{"wait_file": path}``: block until ``path`` exists (gives up after two minutes, exit 3);
* ``{"pid_file": path}``: write the app's pid there;
* ``{"spawn": argv}``: start a grandchild that inherits stdout/stderr, log ``grandchild pid N``;
* ``{"spawn_detached": argv}``: start a daemon-like grandchild in its own session, log ``detached pid N``;
* ``{"trap_term": text}``: from now on, a SIGTERM only logs ``text`` (the app goes on);
* ``{"flood": n}``: write ``n`` bytes to stdout;
* ``{"env_has": text}``: report whether any environment variable's value contains ``text``;
* ``{"secrets": {"env": NAME, "file": path}}``: report sha256 digests of what the app sees there;
* ``{"pad": n}``: add a string of ``n`` characters to the solution (a large JSON output);
* ``{"swap_stdout": path}``: replace the file the app's stdout goes to with a symlink to ``path``;
* ``{"hit": url}``: GET ``url`` (a counter a test serves on loopback: how often the app started).

The solution then holds what the app observed, including its environment's variable names (never
values, so a secret cannot reach the stored output).
"""

from __future__ import annotations

TOOL_MAIN = r'''
import hashlib, json, os, signal, subprocess, sys, time, urllib.request

def digest(text):
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()

doc = json.load(sys.stdin)
seen = {"pid": os.getpid()}
for step in doc.get("steps", []):
    (kind, arg), = step.items()
    if kind == "log":
        print(arg, file=sys.stderr, flush=True)
    elif kind == "sleep":
        time.sleep(arg)
    elif kind == "wait_file":
        end = time.monotonic() + 120
        while not os.path.exists(arg):
            if time.monotonic() > end:
                sys.exit(3)
            time.sleep(0.02)
    elif kind == "pid_file":
        with open(arg + ".tmp", "w") as fh:
            fh.write(str(os.getpid()))
        os.replace(arg + ".tmp", arg)
    elif kind == "spawn":
        child = subprocess.Popen(arg)
        print(f"grandchild pid {child.pid}", file=sys.stderr, flush=True)
    elif kind == "spawn_detached":
        child = subprocess.Popen(arg, start_new_session=True, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"detached pid {child.pid}", file=sys.stderr, flush=True)
    elif kind == "trap_term":
        signal.signal(signal.SIGTERM, lambda *_, text=arg: print(text, file=sys.stderr, flush=True))
    elif kind == "flood":
        block = b"x" * 65536
        left = arg
        while left > 0:
            sys.stdout.buffer.write(block[:left])
            left -= len(block)
        sys.stdout.flush()
    elif kind == "env_has":
        seen.setdefault("env_has", {})[arg] = any(arg in v for v in os.environ.values())
    elif kind == "secrets":
        path = arg["file"]
        content = open(path).read() if os.path.exists(path) else None
        seen["secret_env"] = digest(os.environ.get(arg["env"]))
        seen["secret_file"] = digest(content)
    elif kind == "swap_stdout":
        stdout_file = os.readlink("/proc/self/fd/1")
        os.symlink(arg, stdout_file + ".swap")
        os.replace(stdout_file + ".swap", stdout_file)
    elif kind == "hit":
        urllib.request.urlopen(arg, timeout=30).read()
    elif kind == "pad":
        seen["pad"] = "p" * arg
seen["env_names"] = sorted(os.environ)
seen["cwd"] = os.getcwd()
print(json.dumps({"solution": seen}))
'''

TOOL_APP = {"app.yaml": "type: python\nfiles: [main.py]\n", "main.py": TOOL_MAIN}

MULTI_FILE_MAIN = r'''
import json, os
listing = {}
for root, dirs, files in os.walk("inputs"):
    for name in files:
        path = os.path.join(root, name)
        listing[os.path.relpath(path, "inputs")] = open(path).read()
os.makedirs("outputs/solutions", exist_ok=True)
with open("outputs/solutions/listing.json", "w") as fh:
    json.dump(listing, fh)
print("listed", len(listing), "files")
'''

MULTI_FILE_APP = {
    "app.yaml": "type: python\nfiles: [main.py]\nconfiguration:\n  content:\n    format: multi-file\n",
    "main.py": MULTI_FILE_MAIN,
}


def steps(*items: dict) -> dict:
    """A run input for TOOL_APP."""
    return {"steps": list(items)}
