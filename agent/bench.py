"""Benchmark the device into a speed tier (DESIGN.md §4).

`compute_speed_ms` is the median time of one forward pass of one layer of the
current architecture on the reference micro-batch (8 sequences × 256 tokens,
or the architecture's context if shorter), on each runtime this machine has,
warm-up excluded. Results are cached per device, architecture, runtime and
engine version (plus BENCH_VERSION, bumped when the method changes), so a
restart does not pay for the measurement again.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import psutil

from coordinator_free.constants import REFERENCE_BATCH_SEQUENCES, REFERENCE_BATCH_TOKENS
from coordinator_free.tiers import (
    layer_memory_bytes,
    max_layers_for_memory,
    tier_from_speed,
)

from .errors import RuntimeUnavailableError
from .model.arch import Architecture
from .model.parameters import StageSpec
from .runtime.select import create_runtime
from .storage import write_atomic

log = logging.getLogger(__name__)

BENCH_VERSION = 2  # 2: ONNX forward runs the baked inference graphs
CACHE_NAME = "bench-cache.json"
ENGINE_PACKAGES = {"onnx": "onnxruntime", "torch": "torch"}


@dataclass(frozen=True)
class Measurement:
    runtime: str  # "onnx" or "torch"
    device: str  # "cpu" or "cuda:N"
    ms_per_layer: float  # median forward time of one layer on the reference batch
    samples: int  # timed repetitions behind the median
    cached: bool  # read from the cache rather than measured now


@dataclass(frozen=True)
class BenchResult:
    arch_name: str
    measurements: tuple[Measurement, ...]
    runtime: str  # the runtime this node will use
    device: str
    ms_per_layer: float  # compute_speed_ms of the chosen runtime
    tier: int  # 1..5
    memory_bytes: int  # free RAM or VRAM the node may use
    layer_bytes: int  # memory one trained layer needs
    max_layers: int  # layers this node can hold


def installed_runtimes() -> list[str]:
    """Runtimes whose engine is installed, found without importing it (torch stays unloaded)."""
    return [name for name, package in ENGINE_PACKAGES.items() if importlib.util.find_spec(package)]


def engine_version(runtime: str) -> str:
    try:
        return importlib.metadata.version(ENGINE_PACKAGES[runtime])
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_fingerprint() -> str:
    return f"{cpu_model()} x{os.cpu_count()}"


def reference_inputs(spec: StageSpec) -> np.ndarray:
    arch = spec.arch
    tokens = min(REFERENCE_BATCH_TOKENS, arch.context_tokens)
    rng = np.random.default_rng(0)
    if spec.has_embedding:
        return rng.integers(0, arch.vocab_size, (REFERENCE_BATCH_SEQUENCES, tokens), dtype=np.int64)
    return rng.standard_normal((REFERENCE_BATCH_SEQUENCES, tokens, arch.hidden_size)).astype(np.float32)


def one_layer_spec(arch: Architecture) -> StageSpec:
    """A single block without embedding or head where the depth allows it."""
    layer = 1 if arch.layer_count > 2 else 0
    return StageSpec(arch, layer, layer + 1)


def measure(
    runtime: str,
    arch: Architecture,
    *,
    device: str = "cpu",
    warmup: int = 2,
    repeats: int = 7,
    on_sample: Callable[[int, int], None] = lambda done, total: None,
) -> Measurement:
    """Median ms of one layer's forward on the reference batch; warm-up runs not counted."""
    options = {"device": device} if runtime == "torch" else {}
    stage = create_runtime(runtime, one_layer_spec(arch), **options)
    inputs = reference_inputs(stage.spec)
    try:
        for _ in range(warmup):
            stage.forward(inputs)
        samples = []
        for index in range(repeats):
            started = time.perf_counter()
            stage.forward(inputs)
            samples.append((time.perf_counter() - started) * 1e3)
            on_sample(index + 1, repeats)
    finally:
        stage.close()
    return Measurement(runtime, stage.device, statistics.median(samples), repeats, cached=False)


def layer_training_bytes(arch: Architecture) -> int:
    return layer_memory_bytes(one_layer_spec(arch).parameter_count(), training=True)


def choose_runtime(measurements: list[Measurement], tier_of: Callable[[float], int]) -> Measurement:
    """CUDA → torch; a T4/T5 CPU → ONNX Runtime; otherwise the faster one (DESIGN §4)."""
    cuda = [m for m in measurements if m.device.startswith("cuda")]
    if cuda:
        return min(cuda, key=lambda m: m.ms_per_layer)
    fastest = min(measurements, key=lambda m: m.ms_per_layer)
    onnx = [m for m in measurements if m.runtime == "onnx"]
    if onnx and tier_of(fastest.ms_per_layer) >= 4:
        return onnx[0]
    return fastest


class BenchCache:
    """Measurements on disk, keyed by everything that changes the figure."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def key(runtime: str, device: str, arch: Architecture) -> str:
        return "|".join((
            f"bench-v{BENCH_VERSION}", cpu_fingerprint(), device, f"{arch.name}-v{arch.arch_version}",
            runtime, engine_version(runtime),
        ))

    def get(self, key: str) -> Measurement | None:
        entry = self._read().get(key)
        try:
            return Measurement(**{**entry, "cached": True}) if entry else None
        except TypeError:
            return None  # an entry of an older layout: measure again

    def put(self, key: str, measurement: Measurement) -> None:
        entries = self._read()
        entries[key] = {k: v for k, v in asdict(measurement).items() if k != "cached"}
        write_atomic(self.path, json.dumps(entries, indent=1, sort_keys=True).encode())

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


def run_benchmark(
    arch: Architecture,
    *,
    cache: BenchCache | None,
    runtimes: list[str] | None = None,
    device: str | None = None,
    progress: Callable[[str, int, int], None] = lambda runtime, done, total: None,
) -> BenchResult:
    """Measure (or read from cache) every runtime, then tier, runtime choice and max layers."""
    candidates = runtimes or installed_runtimes()
    if not candidates:
        raise RuntimeUnavailableError("no runtime installed: pip install onnxruntime (or PyTorch)")
    measurements = []
    for runtime in candidates:
        runtime_device = (device or _default_torch_device()) if runtime == "torch" else "cpu"
        key = BenchCache.key(runtime, runtime_device, arch)
        found = cache.get(key) if cache else None
        if found is None:
            found = measure(
                runtime, arch, device=runtime_device,
                on_sample=lambda done, total, name=runtime: progress(name, done, total),
            )
            if cache:
                cache.put(key, found)
        measurements.append(found)
    chosen = choose_runtime(measurements, tier_from_speed)
    memory_bytes = free_memory_bytes(chosen.device)
    layer_bytes = layer_training_bytes(arch)
    return BenchResult(
        arch_name=arch.name,
        measurements=tuple(measurements),
        runtime=chosen.runtime,
        device=chosen.device,
        ms_per_layer=chosen.ms_per_layer,
        tier=int(tier_from_speed(chosen.ms_per_layer)),
        memory_bytes=memory_bytes,
        layer_bytes=layer_bytes,
        max_layers=max_layers_for_memory(memory_bytes, layer_bytes),
    )


def _default_torch_device() -> str:
    """cuda:0 when this PyTorch sees a GPU. Only called when torch is a candidate anyway."""
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def free_memory_bytes(device: str) -> int:
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    return int(psutil.virtual_memory().available)
