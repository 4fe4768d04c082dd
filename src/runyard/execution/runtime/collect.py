"""Input placement and output collection, per the app contract §2.4, §2.5 and §2.8.

Input follows the *run's* format (stdin for json/text, an unpacked archive for multi-file and
csv-archive); output follows the *manifest's* format (stdout for json/text, files for the others).
An output archive holds the solution files, named relative to the solutions directory (multi-file:
``outputs/solutions/`` or the manifest's path; csv-archive: ``./output/``), as the SDK's local runner
delivers them (``run_result(output_dir_path=…)`` gets ``result.json``, not ``outputs/solutions/result.json``).
Statistics, metrics and assets are not in it: they are the run's metadata and assets.
"""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runyard.domain.manifest import Manifest
from runyard.execution.runtime.workspace import WorkspaceError
from runyard.storage.archives import ArchiveLimits, safe_extract

Log = Callable[[str], None]
Snapshot = dict[str, tuple[int, int]]
KEYS = ("statistics", "metrics", "assets")
ARCHIVE_FORMATS = frozenset({"multi-file", "csv-archive"})
CSV_INPUT_DIR = "input"
CSV_OUTPUT_DIR = "output"
OUTPUT_ARCHIVE = "output.tar.gz"
LEFT_BEHIND_OUTPUTS = "outputs"  # multi-file's solutions live under it; a json run's sidecars too
LEFT_BEHIND_DIRS = (CSV_OUTPUT_DIR, LEFT_BEHIND_OUTPUTS)
MAX_PARSE_BYTES = 32 * 1024**2   # stdout bigger than this is stored as-is, not parsed
MAX_SIDECAR_BYTES = 64 * 1024**2  # statistics/metrics/assets files bigger than this are ignored
_SKIPPED_NAMES = frozenset({"app.yaml"})


@dataclass
class Collected:
    """What a run produced: the output file (stdout or an archive) and the extracted sidecar values."""

    output_path: Path | None = None
    statistics: Any = None
    metrics: Any = None
    assets: Any = None


def _contained(root: Path, relative: str) -> Path | None:
    """``root/relative`` if it stays inside ``root`` after resolving links, else None."""
    root = root.resolve()
    target = (root / relative).resolve()
    return target if target == root or root in target.parents else None


def input_dir(base: Path, manifest: Manifest, input_format: str) -> Path:
    """Where an archive input is unpacked: ``./input/`` for csv-archive, else the manifest's input path."""
    if input_format == "csv-archive":
        return base / CSV_INPUT_DIR
    relative = manifest.multi_file.input.path if manifest.content_format == "multi-file" else "inputs"
    target = _contained(base, relative or "inputs")
    if target is None:
        raise WorkspaceError(f"multi-file input path {relative!r} leads outside the app directory")
    return target


def place_input(
    input_path: Path | None, base: Path, manifest: Manifest, input_format: str, limits: ArchiveLimits
) -> Path | None:
    """Deliver the input; returns the file to feed on stdin (json/text) or None (archives, no input)."""
    if input_format not in ARCHIVE_FORMATS:
        return input_path
    target = input_dir(base, manifest, input_format)
    target.mkdir(parents=True, exist_ok=True)
    if input_path is not None and input_path.stat().st_size > 0:
        safe_extract(input_path, target, limits)
    return None


def snapshot(root: Path, under: Iterable[str] = ("",)) -> Snapshot:
    """Size and mtime of every regular file under ``root`` (or only its ``under`` folders): what counts
    as "new or modified" later."""
    state: Snapshot = {}
    root = root.resolve()
    for folder in under:
        top = _contained(root, folder) if folder else root
        if top is None or not top.is_dir():
            continue
        for path in _walk_files(top):
            st = path.lstat()
            state[path.relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns)
    return state


def _walk_files(root: Path) -> Iterable[Path]:
    """Regular files under ``root``, never following links (an app could link to anything)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                yield path


def _unwrap(key: str, value: Any) -> Any:
    """Sidecar files hold ``{"K": value}`` (what the SDK writes) or the bare value; accept both."""
    if isinstance(value, dict) and len(value) == 1 and key in value:
        return value[key]
    return value


def _read_json_file(path: Path, log: Log) -> tuple[bool, Any]:
    """(found, value) for a sidecar JSON file; a broken or oversized one is logged and skipped."""
    if not path.is_file() or path.is_symlink():
        return False, None
    if path.stat().st_size > MAX_SIDECAR_BYTES:
        log(f"runyard: ignoring {path.name}: larger than {MAX_SIDECAR_BYTES} bytes")
        return False, None
    try:
        return True, json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        log(f"runyard: ignoring {path.name}: not valid JSON ({exc})")
        return False, None


def _sidecar_candidates(base: Path, manifest: Manifest, key: str) -> list[Path]:
    """The §2.8 lookup order for ``key``: manifest path (multi-file), outputs/K.json, outputs/K/K.json."""
    relatives: list[str] = []
    if manifest.content_format == "multi-file":
        declared = getattr(manifest.multi_file.output, key, "")
        if declared:
            relatives.append(declared)
    relatives += [f"outputs/{key}.json", f"outputs/{key}/{key}.json"]
    # Only what exists is resolved (most apps write no sidecar files; resolving costs a call per component).
    return [p for p in (_contained(base, r) for r in relatives if os.path.lexists(base / r)) if p is not None]


def extract_sidecars(base: Path, manifest: Manifest, stdout_doc: Any, log: Log) -> tuple[dict[str, Any], list[Path]]:
    """statistics/metrics/assets by §2.8 (first match wins); also returns the files that matched."""
    values: dict[str, Any] = {}
    files: list[Path] = []
    for key in KEYS:
        for candidate in _sidecar_candidates(base, manifest, key):
            found, value = _read_json_file(candidate, log)
            if found:
                values[key] = _unwrap(key, value)
                files.append(candidate)
                break
        else:
            if isinstance(stdout_doc, dict) and key in stdout_doc:
                values[key] = stdout_doc[key]
    return values, files


def read_stdout_document(stdout_path: Path, log: Log, *, rewrite_invalid: bool) -> tuple[bool, Any]:
    """Parse stdout as one JSON document: (parsed, value).

    With ``rewrite_invalid`` (json/text formats, where stdout *is* the output) non-JSON stdout is kept
    as a JSON string value, so the stored output is always valid JSON, and the fact is logged.
    """
    size = stdout_path.stat().st_size if stdout_path.exists() else 0
    if size == 0:
        return False, None
    if size > MAX_PARSE_BYTES:
        log(f"runyard: stdout is {size} bytes; stored without parsing for statistics")
        return False, None
    raw = stdout_path.read_bytes()
    try:
        return True, json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        pass
    if raw.strip() and rewrite_invalid:
        log("runyard: stdout is not valid JSON; the output is stored as a JSON string")
        stdout_path.write_text(json.dumps(raw.decode("utf-8", errors="replace")), encoding="utf-8")
    return False, None


def _changed_files(root: Path, base: Path, before: Snapshot) -> list[Path]:
    """Files under ``root`` that are new or modified since ``before`` (a snapshot of ``base``)."""
    if not root.is_dir():
        return []
    changed: list[Path] = []
    for path in _walk_files(root):
        if path.name in _SKIPPED_NAMES or path.suffix == ".pyc":
            continue
        st = path.lstat()
        if before.get(path.relative_to(base).as_posix()) != (st.st_size, st.st_mtime_ns):
            changed.append(path)
    return changed


def pack_files(files: Iterable[Path], base: Path, dest: Path) -> Path:
    """A .tar.gz of ``files`` with names relative to ``base`` (each file once, sorted)."""
    unique = sorted({f.resolve() for f in files})
    base = base.resolve()
    with tarfile.open(dest, "w:gz") as tar:
        for path in unique:
            tar.add(path, arcname=path.relative_to(base).as_posix(), recursive=False)
    return dest


def collect(
    *, base: Path, manifest: Manifest, stdout_path: Path | None, out_dir: Path, before: Snapshot, log: Log
) -> Collected:
    """Collect a finished run's output by the manifest's content format (also for failed runs)."""
    fmt = manifest.content_format
    base = base.resolve()
    stdout_doc: Any = None
    if stdout_path is not None and stdout_path.is_symlink():
        # The app swapped the file its stdout went to for a link elsewhere: nothing there is its output.
        log("runyard: the app replaced its stdout file with a link; no output collected from it")
        stdout_path = None
    if stdout_path is not None:
        parsed, value = read_stdout_document(stdout_path, log, rewrite_invalid=fmt not in ARCHIVE_FORMATS)
        stdout_doc = value if parsed else None
    values, sidecar_files = extract_sidecars(base, manifest, stdout_doc, log)
    result = Collected(**values)
    if fmt in ARCHIVE_FORMATS:
        root, members = _archive_members(base, manifest, before, sidecar_files, log)
        result.output_path = pack_files(members, root, out_dir / OUTPUT_ARCHIVE)
    else:
        if stdout_path is not None and stdout_path.exists() and stdout_path.stat().st_size > 0:
            result.output_path = stdout_path
        _report_left_behind(base, fmt, before, sidecar_files, log)
    return result


def _report_left_behind(base: Path, fmt: str, before: Snapshot, sidecars: list[Path], log: Log) -> None:
    """A json or text run's output is its stdout alone: files the app wrote where the archive formats
    look for solutions are not kept, and the run's log says so rather than letting them vanish."""
    skipped = {p.resolve() for p in sidecars}
    for folder, keep_as in ((CSV_OUTPUT_DIR, "csv-archive"), (LEFT_BEHIND_OUTPUTS, "multi-file")):
        root = _contained(base, folder)
        left = [f for f in _changed_files(root, base, before) if f.resolve() not in skipped] if root is not None else []
        if not left:
            continue
        names = [f.relative_to(base).as_posix() for f in left]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        log(f"runyard: {len(names)} file(s) the app wrote under {folder}/ are not kept ({shown}): this run's output "
            f"format is {fmt}, whose output is stdout alone; run it with configuration.format.output.type "
            f"{keep_as} (or set content.format in app.yaml) to keep them")


def _archive_members(base: Path, manifest: Manifest, before: Snapshot, sidecars: list[Path], log: Log) -> tuple[Path, list[Path]]:
    """(solutions root, new or modified files under it): multi-file's solutions path, csv-archive's ``./output/``.

    Sidecar files (statistics/metrics/assets) are left out even when they sit under the root.
    """
    csv_archive = manifest.content_format == "csv-archive"
    root = _contained(base, CSV_OUTPUT_DIR if csv_archive else manifest.multi_file.output.solutions or "outputs/solutions")
    if root is None:
        log("runyard: the solutions path leads outside the app directory; no solutions collected")
        return base, []
    skipped = {p.resolve() for p in sidecars}
    return root, [f for f in _changed_files(root, base, before) if f.resolve() not in skipped]
