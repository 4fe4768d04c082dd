"""Kept workspaces: handed out again only when exactly what a fresh copy would be."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runyard.execution.runtime.spares import Spare, WorkspacePool, record, restore


def _tree(root: Path) -> Path:
    (root / "ws" / "app" / "data").mkdir(parents=True)
    (root / "ws" / "app" / "main.py").write_text("print('hi')\n")
    (root / "ws" / "app" / "data" / "in.json").write_text("{}")
    os.chmod(root / "ws" / "app" / "main.py", 0o755)
    (root / "ws" / "app" / "link").symlink_to("main.py")
    return root


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_restore_removes_what_the_run_added(tmp_path: Path) -> None:
    root = _tree(tmp_path / "run")
    pristine = record(root)
    before = _listing(root)
    (root / "stdout").write_text("out")
    (root / "ws" / ".cache" / "deep").mkdir(parents=True)
    (root / "ws" / ".cache" / "deep" / "x").write_text("x")
    (root / "ws" / "app" / "outputs").mkdir()
    (root / "ws" / "app" / "outputs" / "solution.json").write_text("{}")
    (root / "ws" / "app" / "data" / "secret.txt").write_text("s3cr3t")
    (root / "ws" / "app" / "other").symlink_to("/etc")
    assert restore(root, pristine)
    assert _listing(root) == before
    assert restore(root, pristine)  # and again: nothing left to remove


@pytest.mark.parametrize(
    "tamper",
    [
        lambda app: (app / "main.py").write_text("print('changed')\n"),         # content
        lambda app: os.chmod(app / "main.py", 0o644),                           # mode
        lambda app: os.utime(app / "main.py", (0, 0)),                          # times set back
        lambda app: (app / "main.py").write_text("print('hi')\n"),              # same bytes rewritten
        lambda app: os.link(app / "main.py", app.parent / "hard"),              # a second name
        lambda app: (app / "data" / "in.json").unlink(),                        # an entry gone
        lambda app: ((app / "main.py").unlink(), (app / "main.py").write_text("print('hi')\n")),  # replaced
        lambda app: ((app / "link").unlink(), (app / "link").symlink_to("/etc/passwd")),         # link retargeted
        lambda app: os.chmod(app / "data", 0o777),                              # a directory's mode
        lambda app: ((app / "data" / "in.json").unlink(), (app / "data").rmdir(), (app / "data").write_text("")),
    ],
)
def test_restore_refuses_a_touched_copy(tmp_path: Path, tamper) -> None:  # type: ignore[no-untyped-def]
    root = _tree(tmp_path / "run")
    pristine = record(root)
    tamper(root / "ws" / "app")
    assert not restore(root, pristine)


def test_pool_hands_back_the_same_tree_under_the_new_name(tmp_path: Path) -> None:
    pool = WorkspacePool(4)
    first = _tree(tmp_path / "run-a-1234abcd")
    inode = (first / "ws" / "app" / "main.py").stat().st_ino
    pristine = record(first)
    (first / "stdout").write_text("output of a")
    assert pool.give(Spare("bundle-1", first, pristine))
    assert len(pool) == 1 and not (first / "stdout").exists()

    assert pool.take("bundle-2", tmp_path / "run-b-1234abcd") is None  # another executable's
    target = tmp_path / "run-b-5678efgh"
    taken = pool.take("bundle-1", target)
    assert taken is not None and taken.pristine == pristine and taken.path == target and taken.warm is None
    assert not first.exists() and (target / "ws" / "app" / "main.py").stat().st_ino == inode
    assert (target / "ws" / "app" / "main.py").read_text() == "print('hi')\n"
    assert len(pool) == 0 and pool.take("bundle-1", tmp_path / "run-c-00000000") is None


def test_pool_deletes_a_spare_touched_while_kept(tmp_path: Path) -> None:
    pool = WorkspacePool(4)
    spare = _tree(tmp_path / "run-a-1234abcd")
    assert pool.give(Spare("k", spare, record(spare)))
    (spare / "ws" / "app" / "main.py").write_text("import os  # planted\n")  # e.g. through a link made earlier
    assert pool.take("k", tmp_path / "run-b-1234abcd") is None
    assert not spare.exists() and not (tmp_path / "run-b-1234abcd").exists()


def test_pool_refuses_a_touched_copy_and_keeps_at_most_its_limit(tmp_path: Path) -> None:
    pool = WorkspacePool(2)
    touched = _tree(tmp_path / "t")
    pristine = record(touched)
    (touched / "ws" / "app" / "main.py").chmod(0o600)
    assert not pool.give(Spare("k", touched, pristine)) and len(pool) == 0

    trees = [_tree(tmp_path / f"r{i}") for i in range(3)]
    for tree in trees:
        assert pool.give(Spare("k", tree, record(tree)))
    assert len(pool) == 2 and not trees[0].exists()  # the oldest was deleted
    pool.clear()
    assert len(pool) == 0 and not trees[1].exists() and not trees[2].exists()
    assert not WorkspacePool(0).give(Spare("k", _tree(tmp_path / "z"), record(tmp_path / "z")))


def test_a_fresh_copy_is_checked_once_when_first_given_back(tmp_path: Path) -> None:
    pool = WorkspacePool(4)
    refused = _tree(tmp_path / "a")
    assert not pool.give(Spare("k", refused, record(refused), check=lambda: False)) and len(pool) == 0

    calls = []
    tree = _tree(tmp_path / "b")
    assert pool.give(Spare("k", tree, record(tree), check=lambda: calls.append(1) or True))
    taken = pool.take("k", tmp_path / "c")
    assert taken is not None and calls == [1]
    assert pool.give(Spare("k", tmp_path / "c", taken.pristine))  # a kept copy is not compared again
    assert calls == [1] and len(pool) == 1
