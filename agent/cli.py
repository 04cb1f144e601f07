"""The `neuroshard` command. Flags map onto AgentConfig fields; only this module prints."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from dataclasses import asdict
from pathlib import Path

from coordinator_free.sim.cli import add_simulate_arguments, run_simulate

from . import __version__
from .cohort.cli_args import add_cohort_arguments, cohort_config_from_args
from .config import AgentConfig, DataConfig, TrainingConfig, default_state_dir
from .dashboard import add_dashboard_arguments, command_dashboard
from .errors import AgentError
from .logs import configure_logging
from .model.arch import ARCHITECTURES
from .network.cli_args import add_network_arguments, network_config_from_args
from .network.cli_commands import (
    add_doctor_arguments,
    add_id_arguments,
    add_peers_arguments,
    run_doctor,
    run_id,
    run_peers,
)
from .network.hello import DuplicateNodeError
from .pipeline.cli_args import add_pipeline_arguments, pipeline_config_from_args
from .progress import ProgressPrinter, tier_name
from .quorum.cli_status import add_status_arguments, run_status

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, default=None,
                        help=f"identity, checkpoints, data and caches (default: {default_state_dir()})")
    parser.add_argument("--arch", default="genesis", choices=sorted(ARCHITECTURES),
                        help="model architecture (default: genesis; tiny for demos and tests)")
    parser.add_argument("--runtime", default="auto", choices=("auto", "onnx", "torch"),
                        help="compute runtime (default: auto, chosen by the benchmark)")
    parser.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda:0 (default: CUDA when present)")
    parser.add_argument("--log-format", default="plain", choices=("plain", "json"), help="log line format")
    parser.add_argument("--log-level", default="WARNING", help="log level (default: WARNING)")


def _add_run(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="join the network and contribute (alone: train the model solo)")
    _add_common(run)
    run.add_argument("--max-steps", type=int, default=None, help="stop after this many steps in total")
    run.add_argument("--data", type=Path, default=None, help="train on your own text files instead of the default corpus")
    run.add_argument("--seed", type=int, default=0, help="seed of weights and data order (default: 0)")
    run.add_argument("--batch-size", type=int, default=None, help="sequences per step (default: per architecture)")
    run.add_argument("--learning-rate", type=float, default=None, help="peak learning rate (default: per architecture)")
    run.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints (default: 100)")
    run.add_argument("--validate-every", type=int, default=50, help="steps between validations (default: 50)")
    run.add_argument("--threads", type=int, default=None, help="compute threads (default: all cores)")
    run.add_argument("--headless", action="store_true", help="plain log lines for services and journals")
    run.add_argument("--paused", action="store_true",
                     help="start with contributing paused (online for peers; resume from the dashboard)")
    run.add_argument("--dashboard", action="store_true",
                     help="watch the node in the terminal dashboard (q quits: the node finishes its step and saves)")
    add_network_arguments(run)
    add_pipeline_arguments(run)
    add_cohort_arguments(run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuroshard",
        description="NeuroShard agent: contribute this machine to a coordinator-free network that trains one model.",
    )
    parser.add_argument("--version", action="version", version=f"neuroshard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run(sub)
    bench = sub.add_parser("bench", help="measure this device: ms per layer, tier, runtime, max layers")
    _add_common(bench)
    bench.add_argument("--no-cache", action="store_true", help="measure again even if a cached figure exists")
    bench.add_argument("--json", action="store_true", help="print the result as JSON")
    export = sub.add_parser("export", help="export an architecture's ONNX graphs (needs the export extra)")
    export.add_argument("--arch", default="genesis", choices=sorted(ARCHITECTURES))
    export.add_argument("--out", type=Path, required=True, help="directory for the graphs and manifest")
    export.add_argument("--log-level", default="WARNING")
    export.add_argument("--log-format", default="plain", choices=("plain", "json"))
    for name, help_text, add_arguments in NETWORK_COMMANDS:
        command = sub.add_parser(name, help=help_text)
        add_arguments(command)
        command.add_argument("--log-level", default="WARNING")
        command.add_argument("--log-format", default="plain", choices=("plain", "json"))
    return parser


def config_from_args(args: argparse.Namespace) -> AgentConfig:
    training = TrainingConfig(
        max_steps=getattr(args, "max_steps", None),
        seed=getattr(args, "seed", 0),
        batch_sequences=getattr(args, "batch_size", None),
        learning_rate=getattr(args, "learning_rate", None),
        checkpoint_every_steps=getattr(args, "checkpoint_every", 100),
        validate_every_steps=getattr(args, "validate_every", 50),
    )
    return AgentConfig(
        state_dir=args.state_dir or default_state_dir(),
        arch_name=args.arch,
        runtime=args.runtime,
        device=args.device,
        threads=getattr(args, "threads", None),
        start_paused=getattr(args, "paused", False),
        training=training,
        data=DataConfig(data_dir=getattr(args, "data", None)),
        network=network_config_from_args(args) if hasattr(args, "network_config_json") else None,
        pipeline=pipeline_config_from_args(args),
        cohort=cohort_config_from_args(args),
    )


async def _run_node(config: AgentConfig, printer: ProgressPrinter) -> None:
    from .node import Node

    loop = asyncio.get_running_loop()
    node = Node(config, on_event=printer)

    def stop(signum: int) -> None:
        if node.stopping:  # a second Ctrl-C: stop waiting for the step in flight
            raise SystemExit(130)
        printer.say(f"received {signal.Signals(signum).name}: finishing the current step and saving…")
        node.request_stop()

    # Installed before the node starts, so a stop during start-up (benchmark, data) is clean too.
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)
    try:
        async with node:
            await node.run()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def command_run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    printer = ProgressPrinter(log_every_steps=config.training.log_every_steps)
    if args.headless:
        printer.interactive = False
    if args.dashboard:
        from .dashboard import run_with_dashboard

        asyncio.run(run_with_dashboard(config, printer))
        return EXIT_OK
    asyncio.run(_run_node(config, printer))
    return EXIT_OK


def command_bench(args: argparse.Namespace) -> int:
    from coordinator_free.tiers import tier_from_speed

    from .bench import BenchCache, run_benchmark
    from .model.arch import get_architecture

    config = config_from_args(args)
    arch = get_architecture(config.arch_name)
    printer = ProgressPrinter()
    cache = None if args.no_cache else BenchCache(config.state_dir / "bench-cache.json")
    if not args.json:
        print(f"measuring one {arch.name} layer on 8 x {min(256, arch.context_tokens)} tokens…")
    result = run_benchmark(
        arch, cache=cache, runtimes=None if config.runtime == "auto" else [config.runtime], device=config.device,
        progress=lambda runtime, done, total: printer("bench-progress", {"runtime": runtime, "done": done, "total": total}),
    )
    printer.end_line()
    if args.json:
        print(json.dumps(asdict(result), indent=1))
        return EXIT_OK
    print(f"{'runtime':<8} {'device':<8} {'ms/layer':>10}  {'tier':<4}  note")
    for m in result.measurements:
        note = "cached" if m.cached else "measured now"
        if m.runtime == result.runtime and m.device == result.device:
            note += ", chosen"
        print(f"{m.runtime:<8} {m.device:<8} {m.ms_per_layer:>10.2f}  {tier_name(tier_from_speed(m.ms_per_layer)):<4}  {note}")
    print(f"tier {tier_name(result.tier)}: runtime {result.runtime} on {result.device}; "
          f"{result.memory_bytes / 2**30:.1f} GiB free -> up to {result.max_layers} layers of {arch.name}")
    return EXIT_OK


def command_export(args: argparse.Namespace) -> int:
    from .model.arch import get_architecture

    try:
        from exporters.export import export_architecture
    except ImportError as error:
        raise AgentError(f"export needs PyTorch and onnx ({error}); install: pip install 'neuroshard-agent[export]'") from None
    arch = get_architecture(args.arch)
    print(f"exporting {arch.name} v{arch.arch_version} to {args.out}…")
    report = export_architecture(arch, args.out, progress=lambda message: print("  " + message))
    for graph, error in sorted(report.validation.worst_by_graph().items()):
        print(f"  {graph:<18} max relative error vs PyTorch {error:.2e} (limit {report.validation.tolerance:.0e})")
    if report.int8 is not None:
        print(f"  int8 block forward: relative RMS error {report.int8.relative_rms_error:.2%} "
              f"({report.int8.quantized_matmuls} integer matmuls)")
    print(f"wrote {len(report.manifest.graphs)} graphs and {args.out / 'manifest.json'}")
    return EXIT_OK


NETWORK_COMMANDS = (
    ("id", "print this node's id (creates the identity on first use)", add_id_arguments),
    ("peers", "table of the peers the running agent knows", add_peers_arguments),
    ("status", "what the running agent is doing: mode, quorum, step, loss (--json: as /v1/status)", add_status_arguments),
    ("doctor", "check this machine can join the network, with a fix for each problem", add_doctor_arguments),
    ("dashboard", "watch a running agent live in the terminal (needs the dashboard extra)", add_dashboard_arguments),
    ("simulate", "run the protocol's rules on a simulated network (scenarios: genesis-to-1000, steady-100k, "
                 "churn-storm, adversarial-10pct)", add_simulate_arguments),
)
COMMANDS = {
    "run": command_run, "bench": command_bench, "export": command_export,
    "id": run_id, "peers": run_peers, "doctor": run_doctor, "status": run_status, "dashboard": command_dashboard,
    "simulate": run_simulate,
}
EXIT_DUPLICATE_NODE = 3


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    configure_logging(log_format=args.log_format, level=args.log_level)
    try:
        return COMMANDS[args.command](args)
    except DuplicateNodeError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_DUPLICATE_NODE
    except AgentError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
