"""Checkpoints: safetensors files per layer range, written atomically, hash-checked.

One file holds a stage's parameters, its AdamW moments and the training
position, so a resumed run continues bit for bit. Metadata carries the
architecture and vocabulary versions, the layer range and `content_sha256`:
the SHA-256 of the canonical metadata (without that field) followed by every
tensor (name, dtype, shape, bytes) in name order, so truncation or tampering
anywhere is caught on load.

Layout: <state>/checkpoints/<arch>-v<arch_version>/layers-<a>-<b>/step-<n>.safetensors
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from .errors import CheckpointError
from .model.parameters import StageSpec, check_parameters
from .runtime.base import RuntimeState
from .storage import remove_partials, write_atomic

log = logging.getLogger(__name__)

FORMAT_VERSION = "1"
FIRST_MOMENT_PREFIX = "optimizer.m."
SECOND_MOMENT_PREFIX = "optimizer.v."
HASH_KEY = "content_sha256"


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int  # training steps completed when it was written
    state: RuntimeState
    extra: dict  # trainer position and anything else the writer stored (JSON)


def stage_directory(root: Path, spec: StageSpec) -> Path:
    arch = spec.arch
    return root / f"{arch.name}-v{arch.arch_version}" / f"layers-{spec.layer_start}-{spec.layer_end}"


def _content_hash(metadata: dict[str, str], tensors: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({k: v for k, v in metadata.items() if k != HASH_KEY}, sort_keys=True).encode())
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        digest.update(f"\0{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(array.data)
    return digest.hexdigest()


def _read_metadata(data: bytes, path: Path) -> dict[str, str]:
    """The `__metadata__` of a safetensors file, or a CheckpointError naming it."""
    if len(data) < 8:
        raise CheckpointError(f"checkpoint {path} is truncated ({len(data)} bytes)")
    (header_length,) = struct.unpack("<Q", data[:8])
    if header_length > len(data) - 8:
        raise CheckpointError(f"checkpoint {path} is truncated: header says {header_length} bytes")
    try:
        header = json.loads(data[8:8 + header_length])
    except ValueError:
        raise CheckpointError(f"checkpoint {path} has a corrupt header") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict):
        raise CheckpointError(f"checkpoint {path} has no NeuroShard metadata; it was not written by this agent")
    return metadata


class CheckpointStore:
    """The checkpoints of one stage; keeps the newest `keep` complete files."""

    def __init__(self, root: Path, spec: StageSpec, *, keep: int = 3) -> None:
        self.spec = spec
        self.directory = stage_directory(root, spec)
        self.keep = keep

    def paths(self) -> list[Path]:
        """Complete checkpoint files, oldest first (temp files of interrupted writes excluded)."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("step-*.safetensors"))

    def save(self, state: RuntimeState, *, step: int, extra: dict | None = None) -> Path:
        tensors = dict(state.parameters)
        tensors.update({FIRST_MOMENT_PREFIX + k: v for k, v in state.first_moments.items()})
        tensors.update({SECOND_MOMENT_PREFIX + k: v for k, v in state.second_moments.items()})
        metadata = {
            **self._identity(),
            "step": str(step),
            "optimizer_step": str(state.optimizer_step),
            "extra": json.dumps(extra or {}, sort_keys=True),
        }
        metadata[HASH_KEY] = _content_hash(metadata, tensors)
        data = save_safetensors({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata)
        path = self.directory / f"step-{step:09d}.safetensors"
        write_atomic(path, data)
        self._prune()
        return path

    def load(self, path: Path) -> Checkpoint:
        """Load and verify one file; any defect raises CheckpointError naming the file."""
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CheckpointError(f"cannot read checkpoint {path}: {error}") from None
        metadata = _read_metadata(data, path)
        try:
            tensors = load_safetensors(data)
        except Exception as error:  # safetensors raises its own error types
            raise CheckpointError(f"checkpoint {path} is truncated or corrupt: {error}") from None
        if metadata.get(HASH_KEY) != _content_hash(metadata, tensors):
            raise CheckpointError(
                f"checkpoint {path} fails its content hash (tampered or corrupt); "
                f"move it away to resume from an older one"
            )
        self._check_identity(metadata, path)
        return Checkpoint(path, int(metadata["step"]), self._state(tensors, metadata, path), json.loads(metadata["extra"]))

    def latest(self) -> Checkpoint | None:
        """The newest complete checkpoint, or None when there is none yet."""
        remove_partials(self.directory)
        paths = self.paths()
        return self.load(paths[-1]) if paths else None

    def _identity(self) -> dict[str, str]:
        """The metadata that says which model and layers a file belongs to."""
        arch = self.spec.arch
        return {
            "format_version": FORMAT_VERSION,
            "arch_name": arch.name,
            "arch_version": str(arch.arch_version),
            "vocab_version": str(arch.vocab_version),
            "layer_start": str(self.spec.layer_start),
            "layer_end": str(self.spec.layer_end),
        }

    def _check_identity(self, metadata: dict, path: Path) -> None:
        wrong = {k: (metadata.get(k), v) for k, v in self._identity().items() if metadata.get(k) != v}
        if wrong:
            details = ", ".join(f"{k} is {got!r}, expected {want!r}" for k, (got, want) in wrong.items())
            raise CheckpointError(f"checkpoint {path} is for another model: {details}")

    def _state(self, tensors: dict[str, np.ndarray], metadata: dict, path: Path) -> RuntimeState:
        def strip(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        parameters = {k: v for k, v in tensors.items() if not k.startswith("optimizer.")}
        try:
            check_parameters(self.spec, parameters)
        except Exception as error:
            raise CheckpointError(f"checkpoint {path}: {error}") from None
        return RuntimeState(
            parameters=parameters,
            first_moments=strip(FIRST_MOMENT_PREFIX),
            second_moments=strip(SECOND_MOMENT_PREFIX),
            optimizer_step=int(metadata["optimizer_step"]),
        )

    def _prune(self) -> None:
        for old in self.paths()[:-self.keep]:
            old.unlink(missing_ok=True)
            log.debug("removed old checkpoint %s", old)
