"""Genesis data: content-addressed shards, batch addresses rebuilt bit for bit."""

from __future__ import annotations

import hashlib
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from agent.data.batches import BatchAddress, Corpus, SequenceAddress
from agent.data.shards import ShardStore, build_or_open, cut_shards, stdlib_sources
from agent.errors import DataError


def write_text_dir(root: Path, files: int = 6, size: int = 3000) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for index in range(files):
        words = rng.choice(["alpha", "beta", "gamma", "delta", "\n"], size=size // 5)
        (root / f"doc{index}.txt").write_text(" ".join(words))
    return root


def test_shard_ids_are_sha256_of_their_bytes(tmp_path: Path) -> None:
    data_dir = write_text_dir(tmp_path / "text")
    shards = build_or_open(ShardStore(tmp_path / "store"), data_dir=data_dir, shard_bytes=4096)
    assert len(shards) > 1
    for shard in shards:
        assert shard.shard_id == hashlib.sha256(shard.data).hexdigest()
        assert (tmp_path / "store" / f"{shard.shard_id}.bin").read_bytes() == shard.data


def test_store_is_reused_and_corruption_is_named(tmp_path: Path) -> None:
    data_dir = write_text_dir(tmp_path / "text")
    store = ShardStore(tmp_path / "store")
    first = build_or_open(store, data_dir=data_dir, shard_bytes=4096)
    again = build_or_open(store, data_dir=data_dir, shard_bytes=4096)
    assert [s.shard_id for s in first] == [s.shard_id for s in again]
    victim = tmp_path / "store" / f"{first[0].shard_id}.bin"
    victim.write_bytes(b"x" + victim.read_bytes()[1:])
    with pytest.raises(DataError, match=first[0].shard_id):
        build_or_open(store, data_dir=data_dir, shard_bytes=4096)


def test_missing_or_empty_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a directory"):
        build_or_open(ShardStore(tmp_path / "s"), data_dir=tmp_path / "nope", shard_bytes=4096)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no text files"):
        build_or_open(ShardStore(tmp_path / "s"), data_dir=tmp_path / "empty", shard_bytes=4096)


def test_default_corpus_is_the_standard_library() -> None:
    files = stdlib_sources()
    names = {p.name for p in files}
    assert "os.py" in names and "json" in {p.parent.name for p in files}
    assert not any("site-packages" in p.parts for p in files)
    root = Path(sysconfig.get_paths()["stdlib"])
    relative = [p.relative_to(root).as_posix() for p in files]
    assert relative == sorted(relative)


def test_batches_are_deterministic_and_rebuilt_from_address(tmp_path: Path) -> None:
    data_dir = write_text_dir(tmp_path / "text")
    shards = build_or_open(ShardStore(tmp_path / "store"), data_dir=data_dir, shard_bytes=4096)
    corpus = Corpus(shards, validation_fraction=0.1)
    a = corpus.train_batch(seed=3, step=7, batch_sequences=4, sequence_tokens=32)
    b = corpus.train_batch(seed=3, step=7, batch_sequences=4, sequence_tokens=32)
    c = corpus.train_batch(seed=3, step=8, batch_sequences=4, sequence_tokens=32)
    assert a == b and a.batch_id == b.batch_id and a != c
    # A peer holding the same shards rebuilds the same tokens from the address alone.
    other = Corpus(list(reversed(shards)), validation_fraction=0.1)
    np.testing.assert_array_equal(corpus.tokens(a), other.tokens(a))
    assert corpus.tokens(a).shape == (4, 33)


def test_training_and_validation_regions_do_not_overlap(tmp_path: Path) -> None:
    shards = list(cut_shards([write_text_dir(tmp_path / "t") / "doc0.txt"], 1 << 20))
    corpus = Corpus(shards, validation_fraction=0.2)
    split = len(shards[0].data) - int(len(shards[0].data) * 0.2)
    for step in range(50):
        for seq in corpus.train_batch(seed=0, step=step, batch_sequences=8, sequence_tokens=16).sequences:
            assert seq.offset + seq.length <= split
    for batch in corpus.validation_batches(seed=0, count=5, batch_sequences=8, sequence_tokens=16):
        assert all(seq.offset >= split for seq in batch.sequences)


def test_unknown_shard_or_range_is_refused(tmp_path: Path) -> None:
    shards = build_or_open(ShardStore(tmp_path / "s"), data_dir=write_text_dir(tmp_path / "t"), shard_bytes=4096)
    corpus = Corpus(shards, validation_fraction=0.1)
    with pytest.raises(DataError, match="does not hold"):
        corpus.tokens(BatchAddress((SequenceAddress("ab" * 32, 0, 10),)))
    with pytest.raises(DataError, match="outside shard"):
        corpus.tokens(BatchAddress((SequenceAddress(shards[0].shard_id, len(shards[0].data), 10),)))
