"""Byte-level tokenizer: ids 0-255 are bytes, 256-265 are special tokens (DESIGN.md §3)."""

from __future__ import annotations

import numpy as np

from coordinator_free.constants import BYTE_VOCAB_SIZE, GENESIS_VOCAB_SIZE

PAD_ID = BYTE_VOCAB_SIZE
BOS_ID = BYTE_VOCAB_SIZE + 1
EOS_ID = BYTE_VOCAB_SIZE + 2
UNK_ID = BYTE_VOCAB_SIZE + 3
SPECIAL_TOKENS = {"<pad>": PAD_ID, "<bos>": BOS_ID, "<eos>": EOS_ID, "<unk>": UNK_ID}
# ids 260..265 are reserved for later protocol use
VOCAB_SIZE = GENESIS_VOCAB_SIZE


def encode(text: str | bytes) -> np.ndarray:
    """Token ids (int64) of `text`; str is encoded as UTF-8 first."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return np.frombuffer(data, dtype=np.uint8).astype(np.int64)


def decode(ids: np.ndarray | list[int]) -> str:
    """Text of `ids`; special tokens are dropped, invalid UTF-8 is replaced."""
    raw = bytes(int(i) for i in np.asarray(ids).ravel() if 0 <= int(i) < BYTE_VOCAB_SIZE)
    return raw.decode("utf-8", errors="replace")
