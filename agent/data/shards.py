"""Cut text into content-addressed shards and keep them in the state directory.

A shard's id is the hex SHA-256 of its bytes, so anyone holding the bytes can
check them, and a batch named by (shard id, offset, length) is rebuilt bit for
bit anywhere (DESIGN.md §3). The shard set is written once to
`<state>/shards/` with an index; later runs read that copy, so a Python upgrade
that changes the standard library does not silently change the data a
checkpoint's position refers to.

The embedded default corpus is the running interpreter's standard-library `.py`
sources (every machine with Python has them); files are taken in sorted
relative-path order and separated by two newlines.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sysconfig
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..storage import write_atomic

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md", ".py", ".rst", ".json", ".csv", ".html", ".xml", ".c", ".h", ".js")
FILE_SEPARATOR = b"\n\n"
INDEX_NAME = "index.json"
INDEX_VERSION = 1


@dataclass(frozen=True)
class Shard:
    shard_id: str  # hex SHA-256 of data
    data: bytes


def stdlib_sources() -> list[Path]:
    """The interpreter's standard-library .py files, sorted, without site-packages."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = [
        p for p in root.rglob("*.py")
        if "site-packages" not in p.parts and "dist-packages" not in p.parts
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def user_sources(data_dir: Path) -> list[Path]:
    """Text files under `data_dir`, sorted by relative path."""
    if not data_dir.is_dir():
        raise DataError(f"--data {data_dir}: not a directory; point it at a folder of text files")
    root = data_dir.resolve()
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES]
    if not files:
        raise DataError(
            f"--data {data_dir}: no text files found (looked for {', '.join(TEXT_SUFFIXES)})"
        )
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def cut_shards(files: list[Path], shard_bytes: int) -> Iterator[Shard]:
    """Concatenate files and cut at file boundaries into shards of about `shard_bytes`.

    A file larger than a shard is split at `shard_bytes` boundaries.
    """
    pending: list[bytes] = []
    size = 0
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as error:
            log.warning("skipping unreadable file %s: %s", path, error)
            continue
        for start in range(0, max(len(data), 1), shard_bytes):
            piece = data[start:start + shard_bytes] + FILE_SEPARATOR
            if size and size + len(piece) > shard_bytes:
                yield _make_shard(pending)
                pending, size = [], 0
            pending.append(piece)
            size += len(piece)
    if pending:
        yield _make_shard(pending)


def _make_shard(pieces: list[bytes]) -> Shard:
    data = b"".join(pieces)
    return Shard(hashlib.sha256(data).hexdigest(), data)


class ShardStore:
    """Shards on disk under one directory: `<id>.bin` plus `index.json` (order, source)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def has_index(self) -> bool:
        return (self.directory / INDEX_NAME).is_file()

    def write(self, shards: list[Shard], source: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for shard in shards:
            path = self.directory / f"{shard.shard_id}.bin"
            if not path.exists():
                write_atomic(path, shard.data)
        index = {"version": INDEX_VERSION, "source": source, "shards": [s.shard_id for s in shards]}
        write_atomic(self.directory / INDEX_NAME, json.dumps(index, indent=1).encode())

    def read_index(self) -> dict:
        path = self.directory / INDEX_NAME
        try:
            index = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise DataError(f"shard index {path} is unreadable ({error}); delete {self.directory} to rebuild it") from None
        if index.get("version") != INDEX_VERSION or not isinstance(index.get("shards"), list):
            raise DataError(f"shard index {path} has an unknown layout; delete {self.directory} to rebuild it")
        return index

    def load(self, shard_id: str) -> Shard:
        """Read one shard and check its bytes against its id."""
        path = self.directory / f"{shard_id}.bin"
        try:
            data = path.read_bytes()
        except OSError as error:
            raise DataError(f"shard {shard_id} is missing from {self.directory}: {error}") from None
        if hashlib.sha256(data).hexdigest() != shard_id:
            raise DataError(f"shard file {path} does not match its id (corrupt); delete it to rebuild")
        return Shard(shard_id, data)


def build_or_open(
    store: ShardStore,
    *,
    data_dir: Path | None,
    shard_bytes: int,
    progress: Callable[[str], None] = lambda message: None,
) -> list[Shard]:
    """The shards of the configured corpus, building the store on first use."""
    source = f"dir:{data_dir.resolve()}" if data_dir else "stdlib"
    if store.has_index() and store.read_index().get("source") == source:
        return [store.load(shard_id) for shard_id in store.read_index()["shards"]]
    files = user_sources(data_dir) if data_dir else stdlib_sources()
    progress(f"cutting {len(files)} files into shards ({'your data' if data_dir else 'Python standard library'})")
    shards = list(cut_shards(files, shard_bytes))
    if not shards or sum(len(s.data) for s in shards) < 4096:
        raise DataError(f"the corpus ({source}) has under 4 KiB of text; give --data more text")
    store.write(shards, source)
    progress(f"{len(shards)} shards, {sum(len(s.data) for s in shards) / 1e6:.1f} MB, in {store.directory}")
    return shards


def shard_dir(state_dir: Path, data_dir: Path | None) -> Path:
    """One store per corpus: the default under shards/stdlib, user data under shards/<hash of path>."""
    if data_dir is None:
        return state_dir / "shards" / "stdlib"
    digest = hashlib.sha256(os.fsencode(data_dir.resolve())).hexdigest()[:16]
    return state_dir / "shards" / f"dir-{digest}"
