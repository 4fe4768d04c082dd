"""Requirements discovery and the cached, uv-built virtualenvs."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from runyard.domain.manifest import parse_manifest
from runyard.execution.runtime.envs import (
    EnvironmentBuilder,
    EnvironmentBuildError,
    base_interpreter,
    normalize_line,
    requirements_for,
)


def _manifest(pip_requirements: object = None, **extra: object):  # type: ignore[no-untyped-def]
    data: dict = {"files": ["main.py"], **extra}
    if pip_requirements is not None:
        data["python"] = {"pip-requirements": pip_requirements}
    return parse_manifest(data)


def _dist_info(app: Path, folder: str, name: str, version: str) -> None:
    meta = app / ".nextmv/python/deps" / folder / "METADATA"
    meta.parent.mkdir(parents=True)
    meta.write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n\nLong text\n")


def test_bundled_dist_info_wins_over_declared_requirements(tmp_path: Path) -> None:
    _dist_info(tmp_path, "Six-1.16.0.dist-info", "Six", "1.16.0")
    _dist_info(tmp_path, "typing_extensions-4.12.2.dist-info", "typing_extensions", "4.12.2")
    (tmp_path / ".nextmv/python/deps/six.py").write_text("")  # package files next to dist-info are ignored
    (tmp_path / "requirements.txt").write_text("numpy==2.0.0\n")
    reqs = requirements_for(tmp_path, _manifest("requirements.txt"))
    assert reqs == ["six==1.16.0", "typing-extensions==4.12.2"]


def test_inline_list(tmp_path: Path) -> None:
    assert requirements_for(tmp_path, _manifest(["nextmv==1.7.2", " HighsPy==1.9.0 "])) == [
        "nextmv==1.7.2",
        "highspy==1.9.0",
    ]


def test_requirements_txt_keeps_index_lines_and_inlines_includes(tmp_path: Path) -> None:
    (tmp_path / "reqs").mkdir()
    (tmp_path / "reqs/base.txt").write_text("# base\nattrs==23.2.0\n")
    (tmp_path / "requirements.txt").write_text(
        "# a comment\n\n--index-url https://example.invalid/simple\n"
        "--extra-index-url https://other.invalid/simple\nSix==1.16.0  # pinned\n-r reqs/base.txt\n"
    )
    assert requirements_for(tmp_path, _manifest("requirements.txt")) == [
        "--index-url https://example.invalid/simple",
        "--extra-index-url https://other.invalid/simple",
        "six==1.16.0",
        "attrs==23.2.0",
    ]


def test_pyproject_dependencies(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "0"\ndependencies = ["nextmv>=1.7.0", "plotly>=6.5.2"]\n'
    )
    assert requirements_for(tmp_path, _manifest("pyproject.toml")) == ["nextmv>=1.7.0", "plotly>=6.5.2"]


def test_no_requirements(tmp_path: Path) -> None:
    assert requirements_for(tmp_path, _manifest()) == []
    assert requirements_for(tmp_path, _manifest(["six"], type="go")) == []


def test_missing_or_escaping_requirements_file_is_empty_with_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    assert requirements_for(tmp_path, _manifest("requirements.txt"), warnings.append) == []
    assert requirements_for(tmp_path, _manifest("../../etc/passwd"), warnings.append) == []
    assert len(warnings) == 2


def test_normalize_line() -> None:
    assert normalize_line("  Foo_Bar.baz >= 1.0   # why ") == "foo-bar-baz >= 1.0"
    assert normalize_line("--index-url https://X.invalid/Simple") == "--index-url https://X.invalid/Simple"
    assert normalize_line("# only a comment") == ""


def test_key_ignores_order_case_and_comments(tmp_path: Path) -> None:
    builder = EnvironmentBuilder(root=tmp_path)
    assert builder.key(["Six==1.16.0", "attrs==23.2.0"]) == builder.key(["attrs==23.2.0 # x", "six==1.16.0"])
    assert builder.key(["six==1.16.0"]) != builder.key(["six==1.15.0"])


def test_default_interpreter_is_the_base_python() -> None:
    base = base_interpreter()
    out = subprocess.run([base, "-c", "import sys; print(sys.prefix == sys.base_prefix)"], capture_output=True, text=True)
    assert out.stdout.strip() == "True"


def test_empty_env_does_not_see_server_packages(env_root: Path) -> None:
    python = EnvironmentBuilder(root=env_root).ensure([], lambda line: None)
    assert python.is_relative_to(env_root)
    probe = subprocess.run([str(python), "-c", "import pytest"], capture_output=True, text=True)
    assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr


def test_concurrent_callers_build_once(tmp_path: Path) -> None:
    builder = EnvironmentBuilder(root=tmp_path)
    logs: list[str] = []
    results: list[Path] = []

    def worker() -> None:
        results.append(builder.ensure([], logs.append))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(set(results)) == 1 and len(results) == 4
    assert sum(line.startswith("Building Python environment") for line in logs) == 1


def test_concurrent_processes_build_once(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from runyard.execution.runtime.envs import EnvironmentBuilder\n"
        "b = EnvironmentBuilder(root=Path(sys.argv[1]))\n"
        "print(b.ensure([], lambda l: print('LOG', l)))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(out.count("LOG Building Python environment") for out in outputs) == 1
    assert len({out.strip().splitlines()[-1] for out in outputs}) == 1


def test_failed_build_raises_and_leaves_nothing(tmp_path: Path) -> None:
    builder = EnvironmentBuilder(root=tmp_path)
    logs: list[str] = []
    with pytest.raises(EnvironmentBuildError) as info:
        builder.ensure(["this is not ===a requirement"], logs.append)
    assert "uv exit" in str(info.value)
    assert logs  # uv's complaint was streamed
    leftovers = [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []
