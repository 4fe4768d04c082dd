"""A Java app under an address-space cap (the memory limit where no memory cgroup is available).

The JVM reserves far more address space than it uses, so a cap of a class's ``memory_mb`` alone
stops it before ``main``. Java runs get headroom on the cap and a heap sized from ``memory_mb``
(``-XX:MaxRAM``), so the JVM starts, and an allocation beyond the class's memory still fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from runyard.domain.manifest import parse_manifest
from runyard.execution.contract import Limits
from runyard.execution.runtime import limit_exec
from runyard.execution.runtime.process import ProcessSpec, run_process
from runyard.execution.runtime.runner import JVM_ADDRESS_SPACE_HEADROOM_MB, command_argv
from runyard.execution.runtime.sandbox import self_limits

MEMORY_MB = 512
ALLOCATE = """
public class Main {
    public static void main(String[] args) {
        int mb = Integer.parseInt(args[1]);
        byte[][] blocks = new byte[mb][];
        for (int i = 0; i < mb; i++) { blocks[i] = new byte[1024 * 1024]; blocks[i][0] = 1; }
        System.out.println("allocated " + mb);
    }
}
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    javac, jar = shutil.which("javac"), shutil.which("jar")
    if javac is None or jar is None:
        if os.environ.get("CI"):
            pytest.fail("no JDK installed (.ci/run installs default-jdk)")
        pytest.skip("no JDK here (.ci/run installs default-jdk)")
    root = tmp_path_factory.mktemp("java-app")
    (root / "Main.java").write_text(ALLOCATE)
    subprocess.run([javac, "-d", str(root / "classes"), str(root / "Main.java")], check=True)
    subprocess.run([jar, "cfe", str(root / "main.jar"), "Main", "-C", str(root / "classes"), "."], check=True)
    return root


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = limit_exec.build(tmp_path_factory.mktemp("bin"))
    if built is None:
        if os.environ.get("CI"):
            pytest.fail("no C compiler installed (.ci/run installs gcc)")
        pytest.skip("no C compiler here")
    return built


def _run(app: Path, launcher: Path, allocate_mb: int, headroom_mb: int) -> tuple[int | None, str]:
    manifest = parse_manifest({"type": "java"})
    argv = command_argv(manifest, app, None, {"mb": str(allocate_mb)}, memory_mb=MEMORY_MB)
    limits = self_limits(Limits(memory_mb=MEMORY_MB), None, address_space_headroom_mb=headroom_mb)
    lines: list[str] = []
    spec = ProcessSpec(argv=argv, cwd=app, env={"PATH": "/usr/bin:/bin"}, stdout_path=app / "out",
                       limit_exec=launcher, limits=limits)
    code = run_process(spec, on_stderr_line=lines.append).exit_code
    return code, (app / "out").read_text() + "\n".join(lines)


def test_the_jvm_starts_under_the_cap_and_its_heap_stays_within_memory_mb(app: Path, launcher: Path) -> None:
    code, text = _run(app, launcher, 100, JVM_ADDRESS_SPACE_HEADROOM_MB)
    assert code == 0 and "allocated 100" in text, text
    code, text = _run(app, launcher, 2 * MEMORY_MB, JVM_ADDRESS_SPACE_HEADROOM_MB)
    assert code != 0 and "OutOfMemoryError" in text, text


def test_without_headroom_the_jvm_does_not_start(app: Path, launcher: Path) -> None:
    code, text = _run(app, launcher, 10, 0)
    assert code != 0 and "allocated" not in text, text
