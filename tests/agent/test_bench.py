"""Benchmark: runtime choice rules, the cache and its key, and the CUDA path where CUDA exists."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.bench import BenchCache, Measurement, choose_runtime, measure, run_benchmark
from agent.model.arch import TINY
from coordinator_free.tiers import tier_from_speed


def m(runtime: str, ms: float, device: str = "cpu") -> Measurement:
    return Measurement(runtime, device, ms, samples=3, cached=False)


def test_cuda_is_chosen_whenever_present() -> None:
    chosen = choose_runtime([m("onnx", 5.0), m("torch", 8.0, "cuda:0")], tier_from_speed)
    assert chosen.runtime == "torch" and chosen.device == "cuda:0"


def test_slow_cpu_uses_onnx_runtime_even_if_torch_is_a_little_faster() -> None:
    assert choose_runtime([m("onnx", 300.0), m("torch", 250.0)], tier_from_speed).runtime == "onnx"
    assert choose_runtime([m("onnx", 1500.0), m("torch", 1200.0)], tier_from_speed).runtime == "onnx"


def test_fast_cpu_uses_the_faster_runtime() -> None:
    assert choose_runtime([m("onnx", 60.0), m("torch", 40.0)], tier_from_speed).runtime == "torch"
    assert choose_runtime([m("onnx", 40.0), m("torch", 60.0)], tier_from_speed).runtime == "onnx"


def test_cache_is_used_and_keyed_by_runtime_and_architecture(tmp_path: Path) -> None:
    cache = BenchCache(tmp_path / "bench.json")
    first = run_benchmark(TINY, cache=cache, runtimes=["onnx"])
    assert not first.measurements[0].cached
    again = run_benchmark(TINY, cache=cache, runtimes=["onnx"])
    assert again.measurements[0].cached and again.ms_per_layer == first.ms_per_layer
    keys = json.loads((tmp_path / "bench.json").read_text())
    (key,) = keys
    assert "bench-v" in key and "tiny-v1" in key and "|onnx|" in key
    assert again.max_layers >= 1 and again.tier == int(tier_from_speed(again.ms_per_layer))


def test_corrupt_cache_is_measured_again(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    path.write_text("{not json")
    result = run_benchmark(TINY, cache=BenchCache(path), runtimes=["onnx"])
    assert not result.measurements[0].cached
    assert json.loads(path.read_text())


def test_measurement_is_a_positive_median_of_the_samples() -> None:
    seen = []
    result = measure("onnx", TINY, repeats=3, on_sample=lambda done, total: seen.append((done, total)))
    assert result.ms_per_layer > 0 and result.samples == 3
    assert seen == [(1, 3), (2, 3), (3, 3)]


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.skipif(not _cuda_available(), reason="no CUDA GPU on this machine: the CUDA path runs where one exists")
def test_bench_on_a_cuda_machine_chooses_torch_on_cuda(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "bench", "--arch", "tiny", "--json", "--state-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["runtime"] == "torch" and report["device"].startswith("cuda")
