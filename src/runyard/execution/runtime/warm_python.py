# runyard: a Python interpreter started ahead of its run, waiting for it (see runtime/warm.py).
"""What a sandbox started ahead for a Python app runs, as ``python -c <this file> SOCKET_FD PYTHON``.

The interpreter starts (and runs ``site``, with its environment's ``.pth`` files) as it would for the
run, already under the sandbox uid, with the environment every run of this workspace shares. It then
waits on the socket for its run: the same message the launcher reads (the run's folder and argv, its
stdin, stdout and environment as descriptors). If the run is ``PYTHON SCRIPT.py ARG...`` and its
environment agrees with the one the interpreter started with in everything read at start-up, the
script runs here as ``__main__``, as ``python SCRIPT.py`` would run it: the same ``sys.argv``,
``sys.path[0]``, module attributes, exit status and traceback. Otherwise the run's program is executed
as the launcher would have executed it. End of file instead of a message: exit 0, nothing run.

Standalone on purpose: it runs on the app's interpreter (any Python 3), importing nothing of Runyard.
"""

import os
import sys

# Variables read as a process starts (by the dynamic loader and the C library: LD_LIBRARY_PATH for a
# solver's libraries, glibc tunables, malloc settings) or as Python does (or a .pth file of the
# environment): a run whose value differs from the waiting interpreter's gets an interpreter of its own.
_STARTUP_PREFIXES = ("PYTHON", "LC_", "LD_", "GLIBC_", "MALLOC_", "SETUPTOOLS_", "VIRTUAL_ENV", "CONDA", "PIP_",
                     "UV_", "COVERAGE_")
_STARTUP_NAMES = ("LANG", "LANGUAGE", "TZ", "HOME", "PATH", "TMPDIR", "TERM", "GCONV_PATH", "LOCPATH", "NLSPATH",
                  "HOSTALIASES", "RES_OPTIONS", "LOCALDOMAIN")
WAITING = b"runyard-waiting"


def _receive(sock_fd):
    import _socket

    sock = _socket.socket(fileno=sock_fd)
    fd_size = 4  # sizeof(int)
    try:
        data, ancillary, flags, _ = sock.recvmsg(1 << 16, _socket.CMSG_SPACE(3 * fd_size), _socket.MSG_CMSG_CLOEXEC)
    finally:
        sock.close()
    if not data and not ancillary:
        os._exit(0)  # let go unused
    fds = []
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % fd_size
            fds.extend(int.from_bytes(payload[k:k + fd_size], sys.byteorder) for k in range(0, usable, fd_size))
    parts = data.split(b"\0")
    if len(fds) != 3 or flags & (_socket.MSG_TRUNC | _socket.MSG_CTRUNC) or len(parts) < 3 or parts[-1] != b"":
        sys.stderr.write("runyard: the run's message is not one this interpreter reads\n")
        os._exit(125)
    return [os.fsdecode(p) for p in parts[:-1]], fds


def _environment(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    env = {}
    for entry in b"".join(chunks).split(b"\0"):
        name, sep, value = entry.partition(b"=")
        if sep:
            env[os.fsdecode(name)] = os.fsdecode(value)
    return env


def _read_at_start(name):
    return name in _STARTUP_NAMES or name.startswith(_STARTUP_PREFIXES)


def _fits(argv, env, python):
    """Whether this interpreter can run ``argv`` with ``env`` as a fresh one would."""
    if len(argv) < 2 or argv[0] != python or not argv[1].endswith(".py") or argv[1].startswith("-"):
        return False
    started = os.environ
    for name in set(started) | set(env):
        if (name in started or _read_at_start(name)) and started.get(name) != env.get(name):
            return False
    return os.path.isfile(argv[1])


def _stdio():
    """``sys.stdin`` and ``sys.stdout`` made anew over the run's descriptors, as Python makes them at
    start-up (they were made over the waiting interpreter's ``/dev/null``: seekable, another block size)."""
    import io

    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w")):
        old = getattr(sys, name)
        unbuffered = mode == "w" and old.write_through
        binary = open(fd, mode + "b", buffering=0 if unbuffered else -1, closefd=False)
        text = io.TextIOWrapper(binary, encoding=old.encoding, errors=old.errors, newline="\n",
                                line_buffering=not unbuffered and os.isatty(fd), write_through=unbuffered)
        text.mode = mode
        setattr(sys, name, text)
        setattr(sys, f"__{name}__", text)


_interrupted = []


def _end_as_interrupted():
    """Registered before the script runs, so it runs last: after the script's own exit functions, an
    interpreter ended by an uncaught KeyboardInterrupt ends by SIGINT, as a fresh one does."""
    if _interrupted:
        import signal

        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)


def _run_script(path, argv):
    """``python PATH ARG...`` from here on: its ``__main__``, then this process's end with its status."""
    import _frozen_importlib_external

    main = type(sys)("__main__")
    main.__dict__.update({
        "__package__": None, "__loader__": _frozen_importlib_external.SourceFileLoader("__main__", path),
        "__spec__": None, "__builtins__": __builtins__, "__file__": path, "__cached__": None,
    })
    if sys.version_info < (3, 14):  # (from 3.14 a module's annotations are made when first asked for)
        main.__annotations__ = {}
    sys.modules["__main__"] = main
    sys.argv = argv[1:]
    sys.orig_argv = list(argv)
    sys.path.insert(0, os.path.dirname(os.path.realpath(path)))
    try:
        with open(path, "rb") as source:
            code = compile(source.read(), path, "exec", dont_inherit=True)
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:  # printed as the interpreter prints it: without this file's frames
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
            tb = tb.tb_next
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        if isinstance(exc, KeyboardInterrupt):
            _interrupted.append(True)
        sys.exit(1)


def _name(name=None):
    """This process's name (``ps``, ``/proc/PID/comm``), set to ``name`` if given: "runyard-waiting"
    while it waits, so it is not taken for a run's process (it holds nothing of any run yet)."""
    try:
        with open("/proc/self/comm", "r+b", buffering=0) as comm:
            if name is None:
                return comm.read().rstrip(b"\n")
            comm.write(name)
    except OSError:
        pass
    return None


def _main(sock_fd, python):
    if sys.path and sys.path[0] == "":  # `-c` put the folder it started in first: not for this file's imports
        del sys.path[0]
    import atexit

    atexit.register(_end_as_interrupted)
    own = _name()
    _name(WAITING)
    (cwd, *argv), (stdin_fd, stdout_fd, env_fd) = _receive(sock_fd)
    if own:
        _name(own)
    os.dup2(stdin_fd, 0)
    os.dup2(stdout_fd, 1)
    for fd in (stdin_fd, stdout_fd):
        if fd > 2:
            os.close(fd)
    env = _environment(env_fd)
    os.chdir(cwd)
    if not _fits(argv, env, python):
        try:
            os.execve(argv[0], argv, env)
        except OSError as exc:  # (worded as the launcher words it: the runner recognises it)
            sys.stderr.write(f"limit-exec: cannot execute {argv[0]}: {exc.strerror}\n")
            os._exit(127)
    os.environ.clear()
    os.environ.update(env)
    _stdio()
    _run_script(argv[1], argv)


_main(int(sys.argv[1]), sys.argv[2])
