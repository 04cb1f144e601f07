"""`neuroshard simulate SCENARIO [--nodes N --days D --seed S --out DIR]`.

The agent's CLI registers the subcommand with `add_simulate_arguments` and
calls `run_simulate`. Output goes only to the streams passed in (standard
output and error by default): the summary table on `stdout`, the progress
bar on `stderr` (rewritten in place on a terminal, a line every 10 % when
piped).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from coordinator_free.errors import ProtocolError

from .engine import run_scenario
from .report import format_summary, write_charts, write_csv
from .scenario import available_scenarios, load_scenario, with_overrides
from .summary import summarize
from .world import World

EXIT_OK = 0
EXIT_USAGE = 2
_BAR_WIDTH = 30


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenario",
        help=f"a built-in scenario ({', '.join(available_scenarios())}) or a .toml file",
    )
    parser.add_argument(
        "--nodes",
        type=int,
        default=None,
        help="final network size (steady scenarios: the size)",
    )
    parser.add_argument(
        "--days",
        type=float,
        default=None,
        help="simulated days (default: the scenario's)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="random seed (default: the scenario's)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write series.csv, growth.csv and PNG charts here",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the summary as JSON instead of a table",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


class ProgressBar:
    """A plain-text progress bar: [#####-----]  45%  3.15/7.00 days  512 nodes  120 quorums."""

    def __init__(self, stream: TextIO, days: float) -> None:
        self.stream = stream
        self.days = days
        self.interactive = stream.isatty()
        self._last_tenth = -1

    def __call__(self, done: int, total: int, world: World) -> None:
        fraction = done / total
        tenth = int(fraction * 10)
        if not self.interactive and tenth == self._last_tenth and done != total:
            return
        self._last_tenth = tenth
        filled = int(fraction * _BAR_WIDTH)
        line = (
            f"[{'#' * filled}{'-' * (_BAR_WIDTH - filled)}] {fraction:4.0%}  "
            f"{fraction * self.days:.2f}/{self.days:.2f} days  {world.table.online_count:,} nodes  "
            f"{world.book.live_count:,} quorums"
        )
        self.stream.write(("\r" + line) if self.interactive else line + "\n")
        if self.interactive and done == total:
            self.stream.write("\n")
        self.stream.flush()


def run_simulate(
    args: argparse.Namespace,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the scenario; print the summary; write files under --out. Returns the exit code."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        scenario = with_overrides(
            load_scenario(args.scenario),
            nodes=args.nodes,
            days=args.days,
            seed=args.seed,
        )
    except ProtocolError as error:
        stderr.write(f"neuroshard simulate: {error}\n")
        return EXIT_USAGE
    progress = None if args.quiet else ProgressBar(stderr, scenario.days)
    result = run_scenario(scenario, progress=progress)
    summary = summarize(result)
    stdout.write(
        json.dumps(summary, indent=2) + "\n" if args.json else format_summary(summary)
    )
    if args.out is not None:
        written = write_csv(result, args.out)
        try:
            written += write_charts(result, args.out)
        except ProtocolError as error:
            stderr.write(f"neuroshard simulate: no charts: {error}\n")
        stderr.write("wrote " + ", ".join(str(path) for path in written) + "\n")
    return EXIT_OK
