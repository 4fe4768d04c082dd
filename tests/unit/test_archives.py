"""Bundles and input archives are unpacked defensively: nothing lands outside the target folder."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from runyard.domain.errors import UnsafeArchive
from runyard.storage.archives import ArchiveLimits, inspect_archive, pack_directory, safe_extract


def tar_bytes(*members: tarfile.TarInfo | tuple[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for m in members:
            if isinstance(m, tuple):
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tar.addfile(info, io.BytesIO(m[1]))
            else:
                tar.addfile(m)
    return buf.getvalue()


def link(name: str, target: str, *, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


def test_regular_tree_is_unpacked(tmp_path: Path) -> None:
    data = tar_bytes(("main.py", b"print(1)"), ("sub/data.json", b"{}"), link("alias", "sub/data.json"))
    names = safe_extract(data, tmp_path / "out")
    assert sorted(names) == ["alias", "main.py", "sub/data.json"]
    assert (tmp_path / "out" / "main.py").read_bytes() == b"print(1)"
    assert (tmp_path / "out" / "alias").read_text() == "{}"


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (("../evil", b"x"), "'..'"),
        (("a/../../evil", b"x"), "'..'"),
        (("/abs/evil", b"x"), "absolute"),
        (link("esc", "../../etc/passwd"), "leads out"),
        (link("esc", "/etc/passwd"), "absolute"),
        (link("esc", "../outside", hard=True), "leads out"),
    ],
)
def test_escaping_members_are_rejected_and_nothing_is_written_outside(tmp_path: Path, member, message: str) -> None:
    dest = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchive, match=message):
        safe_extract(tar_bytes(("ok.txt", b"1"), member), dest)
    assert not (tmp_path / "deep" / "evil").exists()
    assert not (tmp_path / "evil").exists()
    assert not list(tmp_path.rglob("evil"))


def test_device_files_are_rejected(tmp_path: Path) -> None:
    dev = tarfile.TarInfo("null")
    dev.type = tarfile.CHRTYPE
    with pytest.raises(UnsafeArchive, match="device"):
        safe_extract(tar_bytes(dev), tmp_path / "out")


def test_member_count_and_size_limits(tmp_path: Path) -> None:
    many = tar_bytes(*[(f"f{i}", b"x") for i in range(11)])
    with pytest.raises(UnsafeArchive, match="more than 10 members"):
        safe_extract(many, tmp_path / "a", ArchiveLimits(max_files=10))
    big = tar_bytes(("big", b"x" * 2000))
    with pytest.raises(UnsafeArchive, match="more than 1000 bytes"):
        safe_extract(big, tmp_path / "b", ArchiveLimits(max_bytes=1000))


def test_compression_bomb_stops_at_the_byte_limit(tmp_path: Path) -> None:
    bomb = tar_bytes(("zeros", b"\0" * (20 * 1024 * 1024)))
    assert len(bomb) < 100_000
    with pytest.raises(UnsafeArchive, match="more than"):
        safe_extract(bomb, tmp_path / "out", ArchiveLimits(max_bytes=1024 * 1024))
    assert not (tmp_path / "out" / "zeros").exists()


def test_multi_member_gzip_is_accepted(tmp_path: Path) -> None:
    # The 1.13.0 SDK concatenates one gzip member per dependency, then the app files.
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in (("a.txt", b"a"), ("b.txt", b"b")):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(data))
    body = raw.getvalue()
    half = 1024  # split on a tar block boundary, like the SDK's per-package streams
    stream = gzip.compress(body[:half]) + gzip.compress(body[half:])
    assert sorted(safe_extract(stream, tmp_path / "out")) == ["a.txt", "b.txt"]


def test_garbage_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchive, match="not a readable tar"):
        safe_extract(b"this is not a tarball", tmp_path / "out")


def test_pack_then_extract_round_trips(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "x.csv").write_text("a,b\n1,2\n")
    buf = io.BytesIO()
    pack_directory(src, buf)
    assert safe_extract(buf.getvalue(), tmp_path / "out") == ["d/x.csv"]
    assert (tmp_path / "out" / "d" / "x.csv").read_text() == "a,b\n1,2\n"


def test_oversized_metadata_headers_are_refused_before_they_are_read(tmp_path: Path) -> None:
    # A pax header declaring gigabytes would otherwise be read whole into memory by tarfile.
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = 3 * 1024**3
    raw = header.tobuf(format=tarfile.USTAR_FORMAT) + b"\0" * 1024
    data = gzip.compress(raw)
    with pytest.raises(UnsafeArchive, match="metadata header"):
        safe_extract(data, tmp_path / "out")
    from runyard.storage.archives import inspect_archive

    with pytest.raises(UnsafeArchive, match="metadata header"):
        inspect_archive(io.BytesIO(data))


def test_headers_are_read_through_concatenated_gzip_members() -> None:
    """The nextmv SDK appends an app's files to its dependencies' archive as one more gzip member."""
    from runyard.storage.archives import scan_archive

    def members(files: dict[str, bytes], *, end: bool) -> bytes:
        buf = io.BytesIO()
        tar = tarfile.open(fileobj=buf, mode="w")
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if end:
            tar.close()
        return buf.getvalue()

    data = gzip.compress(members({"deps/six.py": b"x"}, end=False)) + gzip.compress(
        members({"main.py": b"print()", "app.yaml": b"type: python\n"}, end=True))
    scan = scan_archive(io.BytesIO(data), read=("app.yaml",))
    assert scan.files == {"deps/six.py", "main.py", "app.yaml"} and scan.contents == {"app.yaml": b"type: python\n"}
    assert sorted(inspect_archive(io.BytesIO(data))) == ["app.yaml", "deps/six.py", "main.py"]


def _sdk_bundle(deps: int) -> bytes:
    """An official SDK bundle's shape: the app first, then its bundled wheels' files."""
    members: list[tuple[str, bytes]] = [("app.yaml", b"type: python\n"), ("main.py", b"print(1)")]
    for i in range(deps):
        members.append((f".nextmv/python/deps/pkg{i}/mod.py", b"x = 1\n"))
    members.append((".nextmv/python/deps/pkg0-1.0.dist-info/METADATA", b"Name: pkg0\nVersion: 1.0\n"))
    return tar_bytes(*members)


def test_bundled_wheels_are_checked_but_only_their_metadata_is_unpacked(tmp_path: Path) -> None:
    from runyard.execution.runtime.bundles import set_aside

    data = _sdk_bundle(deps=50)
    names = safe_extract(data, tmp_path / "out", ArchiveLimits(max_files=10), aside=set_aside)
    assert sorted(names) == [".nextmv/python/deps/pkg0-1.0.dist-info/METADATA", "app.yaml", "main.py"]
    assert not (tmp_path / "out" / ".nextmv/python/deps/pkg3").exists()
    with pytest.raises(UnsafeArchive, match="more than 10 members"):
        safe_extract(data, tmp_path / "out2", ArchiveLimits(max_files=10))  # without the aside rule
    with pytest.raises(UnsafeArchive, match="bundled dependency files"):  # their own cap: 20 x max_files
        safe_extract(data, tmp_path / "out3", ArchiveLimits(max_files=2), aside=set_aside)
    hostile = tar_bytes(("app.yaml", b""), (".nextmv/python/deps/../../etc/passwd", b"x"))
    with pytest.raises(UnsafeArchive, match=r"'\.\.'"):
        safe_extract(hostile, tmp_path / "out4", aside=set_aside)  # set aside, still checked


def test_a_scan_stops_where_it_has_enough(tmp_path: Path) -> None:
    from runyard.execution.runtime.bundles import set_aside
    from runyard.storage.archives import scan_archive

    seen: list[int] = []

    def enough(scan) -> bool:
        seen.append(len(scan.files))
        return len(seen) >= 5

    scan = scan_archive(io.BytesIO(_sdk_bundle(deps=100)), read=("app.yaml",), aside=set_aside, enough=enough)
    assert scan.complete is False and scan.files == {"app.yaml", "main.py"} and len(seen) == 5
    full = scan_archive(io.BytesIO(_sdk_bundle(deps=100)), read=("app.yaml",), aside=set_aside)
    assert full.complete is True and ".nextmv/python/deps/pkg0-1.0.dist-info/METADATA" in full.files
