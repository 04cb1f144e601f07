"""Agent configuration: one frozen dataclass per component, CLI flags map onto fields.

This is the only module that reads the environment (NEUROSHARD_STATE_DIR).
Timings that tests shrink are fields here, never patched constants.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from .cohort.config import CohortConfig
from .network.config import NetworkConfig
from .pipeline.config import PipelineConfig

APP_NAME = "neuroshard"
STATE_DIR_ENV = "NEUROSHARD_STATE_DIR"


def default_state_dir() -> Path:
    """$NEUROSHARD_STATE_DIR, else the platform's user data dir (~/.local/share/neuroshard)."""
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


@dataclass(frozen=True)
class TrainingConfig:
    """Solo (and per-stage) training loop settings."""

    batch_sequences: int | None = None  # sequences per step; None: the architecture's default
    sequence_tokens: int | None = None  # tokens per sequence; None: the architecture's context
    learning_rate: float | None = None  # peak inner AdamW lr; None: the architecture's default
    warmup_steps: int = 20  # linear lr warm-up from 0, steps
    max_steps: int | None = None  # stop after this many steps in total; None: run until stopped
    checkpoint_every_steps: int = 100  # write a checkpoint this often, steps
    keep_checkpoints: int = 3  # complete checkpoints kept per layer range
    validate_every_steps: int = 50  # validation loss this often, steps
    validation_batches: int = 4  # fixed held-out batches per validation
    log_every_steps: int = 10  # progress line this often, steps (every step on a TTY)
    seed: int = 0  # weights and data order; same seed, same run


@dataclass(frozen=True)
class DataConfig:
    """Where training text comes from and how it is cut."""

    data_dir: Path | None = None  # the user's text files; None: the embedded default corpus
    shard_bytes: int = 1 << 20  # target shard size, bytes
    validation_fraction: float = 0.05  # tail of each shard held out for validation


@dataclass(frozen=True)
class AgentConfig:
    """Everything one node needs; built by the CLI from flags."""

    state_dir: Path = field(default_factory=default_state_dir)  # identity, checkpoints, shards, caches
    arch_name: str = "genesis"  # architecture to train, see agent.model.arch
    runtime: str = "auto"  # "onnx", "torch" or "auto" (chosen by the benchmark)
    device: str | None = None  # torch device ("cpu", "cuda:0"); None: CUDA when present
    threads: int | None = None  # compute threads; None: all cores
    start_paused: bool = False  # start with contributing paused (resume from the dashboard or API)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    data: DataConfig = field(default_factory=DataConfig)
    network: NetworkConfig | None = field(default_factory=NetworkConfig)  # None: no peers, no local API
    cohort: CohortConfig = field(default_factory=CohortConfig)  # DiLoCo cohort sync between holders of a layer
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)  # mode, held layers, quorum timings
