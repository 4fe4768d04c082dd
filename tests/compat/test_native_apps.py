"""Go, Java and prebuilt binary apps pushed and run through the official SDK (JSON: 0.28.5 and 1.13.0;
multi-file: 1.13.0, whose ``new_run(input_dir_path=…)`` 0.28.5 does not have).

The apps are built here from ``apps/native``: Go by the SDK's own ``build.command`` at push time
(``go build``), Java as a ``main.jar`` with ``javac`` + ``jar``, and a C program with ``gcc`` as the
prebuilt binary. Each runs once with JSON input (stdin, options as ``-name value``) and once with
multi-file input (``inputs/`` → ``outputs/solutions/``); the run's output must equal running the same
executable directly on the same input.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .harness import APPS, SdkRunner, unique

pytestmark = pytest.mark.compat

SOURCES = APPS / "native"
LANGS = ["go", "java", "binary"]
RUNTIME = {"go": "default:latest", "binary": "default:latest", "java": "java:latest"}
JSON_INPUT = {"stops": [{"id": "a", "q": 1}, {"id": "b", "q": 2}], "name": "depot \"north\""}
OPTIONS = {"alpha": "x y", "beta": "2"}
FILES = {"orders.csv": "id,q\na,1\nb,2\n", "notes.txt": "first line\nsecond\n", "empty.txt": ""}


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (.ci/run installs it)")
        pytest.skip(f"{name} is not installed here")
    return found


def _build(lang: str, app_dir: Path) -> list[str]:
    """Prepare ``app_dir`` for ``lang``; returns the manifest lines that say how the SDK packs it."""
    if lang == "go":
        _tool("go")
        for name in ("main.go", "go.mod"):
            shutil.copy(SOURCES / name, app_dir / name)
        # The SDK runs this at push time; the target is this machine (the manifests in the wild say arm64).
        return ["build:", "  command: go build -o main .", "  environment:", "    CGO_ENABLED: '0'",
                "files:", "  - main"]
    if lang == "java":
        javac, jar = _tool("javac"), _tool("jar")
        classes = app_dir / "classes"
        subprocess.run([javac, "-d", str(classes), str(SOURCES / "Main.java")], check=True, capture_output=True)
        subprocess.run([jar, "cfe", str(app_dir / "main.jar"), "Main", "-C", str(classes), "."], check=True,
                       capture_output=True)
        return ["files:", "  - main.jar"]
    subprocess.run([_tool("gcc"), "-O2", "-o", str(app_dir / "main"), str(SOURCES / "main.c")], check=True,
                   capture_output=True)
    return ["files:", "  - main"]


def make_app(lang: str, fmt: str, root: Path, sdk_version: str = "1.13.0") -> Path:
    app_dir = root / f"{lang}-{fmt}"
    app_dir.mkdir(parents=True)
    # 0.28.5's manifest knows no `binary` type (python, go, java): a prebuilt ./main is pushed as `go`,
    # which runs the same way. It also requires `configuration.options`.
    manifest_type = "go" if lang == "binary" and sdk_version.startswith("0.") else lang
    lines = [f"type: {manifest_type}", f"runtime: ghcr.io/nextmv-io/runtime/{RUNTIME[lang]}", *_build(lang, app_dir),
             "configuration:", "  content:", f"    format: {fmt}", "  options:", "    items: []"]
    (app_dir / "app.yaml").write_text("\n".join(lines) + "\n")
    return app_dir


def run_directly(lang: str, app_dir: Path, workdir: Path, args: list[str], stdin: bytes = b"") -> bytes:
    """The executable run by hand, as a user would before pushing."""
    argv = ["java", "-jar", str(app_dir / "main.jar")] if lang == "java" else [str(app_dir / "main")]
    proc = subprocess.run([*argv, *args], cwd=workdir, input=stdin, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def files_in(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("lang", LANGS)
def test_json_app_output_equals_a_direct_run(sdk: SdkRunner, lang: str, tmp_path: Path) -> None:
    """Both SDK generations: 0.28.5 packs ``build``/``files`` the same way as 1.13.0."""
    app_dir = make_app(lang, "json", tmp_path / "apps", sdk.version)
    out = sdk.run(
        """
        app, version_id, instance_id = deploy(os.environ["APP_ID"], os.environ["APP_DIR"])
        run_id = app.new_run(input=json.loads(os.environ["INPUT"]), instance_id=instance_id,
                             options=json.loads(os.environ["OPTIONS"]))
        info = wait_terminal(app, run_id)
        result = app.run_result(run_id)
        emit({"status": info.metadata.status_v2.value, "output": result.output,
              "error": info.metadata.error, "logs": app.run_logs(run_id).log})
        """,
        env={"APP_ID": unique(lang), "APP_DIR": str(app_dir), "INPUT": json.dumps(JSON_INPUT),
             "OPTIONS": json.dumps(OPTIONS)},
    )
    assert out["status"] == "succeeded", out
    args = [part for name, value in OPTIONS.items() for part in (f"-{name}", value)]
    direct = json.loads(run_directly(lang, app_dir, tmp_path, args, json.dumps(JSON_INPUT).encode()))
    assert out["output"] == direct
    assert direct["input"] == JSON_INPUT and direct["args"] == args  # the app really saw both
    assert "native: json done" in out["logs"]


@pytest.mark.parametrize("lang", LANGS)
def test_multi_file_app_output_equals_a_direct_run(sdk113: SdkRunner, lang: str, tmp_path: Path) -> None:
    app_dir = make_app(lang, "multi-file", tmp_path / "apps")
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, text in FILES.items():
        (inputs / name).write_text(text)
    out = sdk113.run(
        """
        app, version_id, instance_id = deploy(os.environ["APP_ID"], os.environ["APP_DIR"])
        run_id = app.new_run(input_dir_path=os.environ["IN"], instance_id=instance_id)
        info = wait_terminal(app, run_id)
        app.run_result(run_id, output_dir_path=os.environ["OUT"])
        emit({"status": info.metadata.status_v2.value, "error": info.metadata.error,
              "logs": app.run_logs(run_id).log})
        """,
        env={"APP_ID": unique(lang), "APP_DIR": str(app_dir), "IN": str(inputs), "OUT": str(tmp_path / "out")},
    )
    assert out["status"] == "succeeded", out
    direct = tmp_path / "direct"
    shutil.copytree(inputs, direct / "inputs")
    run_directly(lang, app_dir, direct, [])
    expected = files_in(direct / "outputs" / "solutions")
    assert sorted(expected) == sorted(FILES)
    assert files_in(tmp_path / "out") == expected
    assert "native: multi-file done" in out["logs"]
