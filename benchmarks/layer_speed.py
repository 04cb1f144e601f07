#!/usr/bin/env python3
"""How fast one layer runs on each runtime, against PyTorch eager and the machine's peak.

For the genesis block (or --arch) on the reference micro-batch (8 × 256 tokens):
  1. the measured peak fp32 matmul GFLOP/s (best of torch and numpy on square matmuls);
  2. ms per layer and fraction of that peak for: torch eager forward, ONNX Runtime
     forward (ours), int8 ONNX forward (ours), torch train step, ONNX Runtime train
     step (ours) — each through the agent's own runtime backends. The forward
     figures come from forward-only stages (as inference, verification and the
     tier benchmark run them: the ONNX backend's inference graphs, weights baked
     in), the train steps from stages that train; "onnx fwd, training stage" is
     the forward a training ONNX stage runs (forward graph, weights as inputs);
  3. the ratios ours / baseline.
Candidates are interleaved and rotated every round so background load hits all
alike; the figures are medians. Goals (issue "One node, alone"): ONNX forward
≤ 0.9× torch and ≥ 70 % of peak; int8 ≤ 0.65× fp32 with relative RMS error ≤ 1 %;
ONNX train step ≤ 1.1× torch.

    python benchmarks/layer_speed.py [--arch genesis] [--rounds 15] [--threads N] [--settle-ms 100] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interleave import interleaved_samples

from agent.bench import cpu_fingerprint
from agent.model.arch import Architecture, get_architecture
from agent.model.parameters import StageSpec, layer_prefix
from agent.runtime.graphs import GraphSet
from agent.runtime.select import create_runtime


def peak_matmul_gflops(threads: int, size: int = 2048, repeats: int = 8) -> dict[str, float]:
    """Best-of-N fp32 matmul throughput of torch and numpy on this machine."""
    import torch

    torch.set_num_threads(threads)
    a32 = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    b32 = np.random.default_rng(1).standard_normal((size, size)).astype(np.float32)
    ta, tb = torch.from_numpy(a32), torch.from_numpy(b32)
    flops = 2 * size**3
    results = {}
    for name, run in (("torch", lambda: torch.mm(ta, tb)), ("numpy", lambda: a32 @ b32)):
        run()
        best = min(_timed(run) for _ in range(repeats))
        results[name] = flops / best / 1e9
    return results


def _timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def block_forward_flops(arch: Architecture, batch: int, tokens: int) -> float:
    """Matmul FLOPs of one block's forward (attention scores and mixing included)."""
    h, m = arch.hidden_size, arch.mlp_size
    dense = 2 * batch * tokens * (3 * h * h + h * h + 2 * h * m)
    attention = 2 * 2 * batch * tokens * tokens * h
    return float(dense + attention)


def int8_forward(arch: Architecture, spec: StageSpec, parameters: dict, threads: int, scratch: Path):
    """An onnxruntime session of the int8 block with the stage's weights baked in."""
    import onnxruntime as ort

    from exporters.quantize import quantize_block

    graphs = GraphSet(arch, None)
    fp32_path = scratch / "block_forward.onnx"
    fp32_path.write_bytes(graphs.read_verified("block_forward"))
    prefix = layer_prefix(spec.layer_start)
    local = {k[len(prefix):]: v for k, v in parameters.items() if k.startswith(prefix)}
    int8_path = scratch / "block_forward_int8.onnx"
    quantize_block(fp32_path, local, int8_path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(int8_path), options, providers=["CPUExecutionProvider"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="genesis")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--settle-ms", type=float, default=100.0, help="pause before each timed call (see interleave.py)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    arch = get_architecture(args.arch)
    tokens = min(args.tokens, arch.context_tokens)
    if arch.layer_count < 3:
        parser.error(f"--arch {arch.name} has {arch.layer_count} layers; a block stands alone only with 3 or more")
    spec = StageSpec(arch, 1, 2)  # a middle block: no embedding, no head
    # Separate stages for forward-only and training use, as the agent has: the
    # first backward switches an ONNX stage's forward to the weights-as-inputs graphs.
    onnx_stage = create_runtime("onnx", spec, threads=args.threads)
    onnx_training = create_runtime("onnx", spec, threads=args.threads)
    torch_stage = create_runtime("torch", spec)
    torch_training = create_runtime("torch", spec)
    parameters = onnx_stage.state().parameters
    for stage in (onnx_training, torch_stage, torch_training):
        stage.load(onnx_stage.state())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, tokens, arch.hidden_size)).astype(np.float32)
    grad_y = rng.standard_normal((args.batch, tokens, arch.hidden_size)).astype(np.float32)

    print(f"machine: {cpu_fingerprint()}, {platform.system()} {platform.machine()}, threads {args.threads}")
    print(f"versions: python {platform.python_version()}, torch {torch.__version__}, "
          f"onnxruntime {__import__('onnxruntime').__version__}, numpy {np.__version__}")
    peaks = peak_matmul_gflops(args.threads)
    peak = max(peaks.values())
    print(f"peak fp32 matmul: {peak:.1f} GFLOP/s (torch {peaks['torch']:.1f}, numpy {peaks['numpy']:.1f})")

    with tempfile.TemporaryDirectory() as scratch:
        int8 = int8_forward(arch, spec, parameters, args.threads, Path(scratch))
        int8_feeds = {int8.get_inputs()[0].name: x}
        y_fp32 = onnx_stage.forward(x)
        onnx_training.backward(x, grad_outputs=grad_y)  # a training stage from here on
        forward_error = float(np.abs(onnx_training.forward(x) - y_fp32).max() / np.abs(y_fp32).max())
        y_int8 = int8.run(None, int8_feeds)[0]
        int8_error = float(np.sqrt(np.mean((y_int8 - y_fp32) ** 2)) / np.sqrt(np.mean(y_fp32**2)))
        candidates = {
            "torch forward": lambda: torch_stage.forward(x),
            "onnx forward": lambda: onnx_stage.forward(x),
            "int8 forward": lambda: int8.run(None, int8_feeds),
            "torch train step": lambda: torch_training.backward(x, grad_outputs=grad_y),
            "onnx train step": lambda: onnx_training.backward(x, grad_outputs=grad_y),
            "onnx fwd, training stage": lambda: onnx_training.forward(x),
        }
        samples = interleaved_samples(candidates, args.rounds, warmup=2, settle_s=args.settle_ms / 1e3)
        ms = {name: statistics.median(values) * 1e3 for name, values in samples.items()}
    if onnx_stage.forward_kind != "infer" or onnx_training.forward_kind != "forward":
        raise SystemExit(f"stages ran {onnx_stage.forward_kind}/{onnx_training.forward_kind} graphs, not infer/forward")

    flops = block_forward_flops(arch, args.batch, tokens)
    print(f"\n{arch.name} block, {args.batch} x {tokens} tokens, median of {args.rounds} interleaved rounds, "
          f"{args.settle_ms:g} ms pause before each call")
    print(f"{'candidate':<24} {'ms/layer':>10} {'% of peak':>10}")
    for name, value in ms.items():
        work = flops * (3 if "train step" in name else 1)  # backward ≈ 2× forward
        print(f"{name:<24} {value:>10.2f} {100 * work / (value / 1e3) / 1e9 / peak:>9.1f}%")
    ratios = {
        "onnx/torch forward": ms["onnx forward"] / ms["torch forward"],
        "int8/fp32 onnx forward": ms["int8 forward"] / ms["onnx forward"],
        "onnx/torch train step": ms["onnx train step"] / ms["torch train step"],
        "onnx fwd training/torch": ms["onnx fwd, training stage"] / ms["torch forward"],
    }
    print()
    for name, value in ratios.items():
        print(f"ratio {name:<24} {value:.3f}")
    print(f"int8 relative RMS error {int8_error:.4%}")
    print(f"inference graph vs forward graph, max relative difference {forward_error:.2e}")
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps({"peak_gflops": peaks, "ms": ms, "ratios": ratios,
                                         "int8_relative_rms_error": int8_error,
                                         "load_average": os.getloadavg()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
