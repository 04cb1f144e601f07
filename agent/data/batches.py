"""Batches addressed by (shard id, offset, length), drawn deterministically.

Each shard's head is training text and its tail (`validation_fraction` of its
bytes) is held out. Training batch `step` of a run is a pure function of
(seed, step), so a resumed run sees the same batches as a straight one, and any
peer holding the shards rebuilds a batch from its address alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..model.tokenizer import encode
from .shards import Shard

VALIDATION_STREAM = 0x5EED_0FF  # rng stream id of the fixed validation batches


@dataclass(frozen=True)
class SequenceAddress:
    shard_id: str  # hex SHA-256 of the shard
    offset: int  # first byte, inclusive
    length: int  # bytes = tokens (inputs + 1 shifted target)


@dataclass(frozen=True)
class BatchAddress:
    sequences: tuple[SequenceAddress, ...]

    @property
    def batch_id(self) -> str:
        """Hex SHA-256 of the canonical address text: names the batch in proofs and logs."""
        text = ";".join(f"{s.shard_id}:{s.offset}:{s.length}" for s in self.sequences)
        return hashlib.sha256(text.encode()).hexdigest()


class Corpus:
    """The shards of a run, split into training heads and validation tails."""

    def __init__(self, shards: list[Shard], *, validation_fraction: float) -> None:
        if not shards:
            raise DataError("no data shards; the corpus is empty")
        self._data = {s.shard_id: s.data for s in shards}
        self._order = [s.shard_id for s in shards]
        self._split = {
            s.shard_id: len(s.data) - int(len(s.data) * validation_fraction) for s in shards
        }

    @property
    def shard_ids(self) -> list[str]:
        return list(self._order)

    @property
    def train_bytes(self) -> int:
        return sum(self._split.values())

    def train_batch(self, *, seed: int, step: int, batch_sequences: int, sequence_tokens: int) -> BatchAddress:
        """The address of training batch `step` (inputs and targets: sequence_tokens + 1 bytes)."""
        rng = np.random.default_rng([seed, step])
        regions = [(sid, 0, self._split[sid]) for sid in self._order]
        return self._draw(rng, regions, batch_sequences, sequence_tokens + 1, "training")

    def validation_batches(self, *, seed: int, count: int, batch_sequences: int, sequence_tokens: int) -> list[BatchAddress]:
        """`count` fixed held-out batches (the same for every step of a run)."""
        rng = np.random.default_rng([seed, VALIDATION_STREAM])
        regions = [(sid, self._split[sid], len(self._data[sid])) for sid in self._order]
        return [
            self._draw(rng, regions, batch_sequences, sequence_tokens + 1, "validation")
            for _ in range(count)
        ]

    def tokens(self, address: BatchAddress) -> np.ndarray:
        """Token ids [B, length] int64 of a batch, rebuilt from its address."""
        rows = []
        for seq in address.sequences:
            data = self._data.get(seq.shard_id)
            if data is None:
                raise DataError(f"batch names shard {seq.shard_id[:12]}… which this node does not hold")
            if seq.offset < 0 or seq.offset + seq.length > len(data):
                raise DataError(
                    f"batch range {seq.offset}+{seq.length} is outside shard {seq.shard_id[:12]}… "
                    f"of {len(data)} bytes"
                )
            rows.append(encode(data[seq.offset:seq.offset + seq.length]))
        return np.stack(rows)

    def _draw(
        self,
        rng: np.random.Generator,
        regions: list[tuple[str, int, int]],
        batch_sequences: int,
        length: int,
        what: str,
    ) -> BatchAddress:
        # Only regions that hold a whole sequence; pick one in proportion to the
        # number of start positions it offers, then a start inside it.
        usable = [(sid, lo, hi - lo - length + 1) for sid, lo, hi in regions if hi - lo >= length]
        if not usable:
            raise DataError(
                f"no shard has a {what} region of {length} bytes; give --data more text "
                f"or use a shorter sequence length"
            )
        starts = np.array([n for _, _, n in usable], dtype=np.int64)
        cumulative = np.cumsum(starts)
        picks = rng.integers(0, int(cumulative[-1]), size=batch_sequences)
        sequences = []
        for pick in picks:
            index = int(np.searchsorted(cumulative, pick, side="right"))
            before = int(cumulative[index - 1]) if index else 0
            sid, lo, _ = usable[index]
            sequences.append(SequenceAddress(sid, lo + int(pick) - before, length))
        return BatchAddress(tuple(sequences))
