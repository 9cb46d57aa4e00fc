"""Checks on a data/raw folder shared by the download tests: listing, snapshot, staging leftovers."""

import json
from pathlib import Path

from mnistlab.core.sources import FILE_NAMES, SOURCE_JSON
from mnistlab.data.checksums import file_digests


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def snapshot(folder: Path) -> dict[str, bytes] | None:
    """Every file under ``folder`` with its bytes (None if the folder does not exist)."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def staging_left(raw: Path) -> list[Path]:
    return sorted(raw.parent.glob(f".{raw.name}-staging-*"))


def assert_complete(raw: Path, record: dict) -> None:
    assert listing(raw) == {*FILE_NAMES, SOURCE_JSON}
    assert json.loads((raw / SOURCE_JSON).read_text()) == record
    for name in FILE_NAMES:
        assert record["files"][name] == {**record["files"][name], **file_digests(raw / name)}
    assert staging_left(raw) == []
