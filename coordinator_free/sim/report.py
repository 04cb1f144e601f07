"""The summary as a table, the time series as CSV, and charts as PNG.

Text and files only: printing is the caller's (cli.py passes a writer).
matplotlib is imported only by `write_charts`, so the simulator runs where it
is not installed (extra "sim"); without it `write_charts` raises a clear
error naming the extra.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from .engine import SimulationResult
from .metrics import COLUMNS
from .scenario import ScenarioError

CHARTS = (
    ("nodes.png", "Network size and phase", ("nodes",)),
    (
        "quorums.png",
        "Quorums by tier",
        ("quorums_t1", "quorums_t2", "quorums_t3", "quorums_t4"),
    ),
    (
        "model.png",
        "Model depth and minimum replicas per layer",
        ("depth", "replicas_min"),
    ),
    ("throughput.png", "Training throughput (tokens/s)", ("tokens_per_s",)),
    (
        "rewards.png",
        "Cumulative rewards by tier (NEURO)",
        tuple(f"rewards_t{t}" for t in range(1, 6)),
    ),
    (
        "attacks.png",
        "Attackers caught and honest nodes slashed",
        ("attackers_caught", "honest_slashed"),
    ),
)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 1e6 else f"{value:.3e}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["  (none)"]
    headers = list(rows[0])
    cells = [[_cell(row[h]) for h in headers] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = ["  " + "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines += [
        "  " + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
        for row in cells
    ]
    return lines


def _pairs(title: str, values: dict[str, Any]) -> list[str]:
    lines = [title]
    for key, value in values.items():
        shown = json.dumps(value) if isinstance(value, dict) else _cell(value)
        lines.append(f"  {key:<44} {shown}")
    return lines


def format_summary(summary: dict[str, Any]) -> str:
    """A plain-text report of a run's summary."""
    lines = [
        (
            f"scenario {summary['scenario']}  seed {summary['seed']}  {summary['days']} days  "
            f"{summary['final_nodes']:,} nodes at the end  {summary['events_processed']:,} events"
        ),
        "",
        "phases (first reached, hours)",
        *_table(summary["phases"]),
        "",
        "quorums by tier, depth and replicas over time",
        *_table(summary["snapshots"]),
        "",
    ]
    lines += _pairs("model", summary["depth"])
    lines += _pairs("quorums", summary["quorums"])
    lines += _pairs(
        "training",
        {
            "sync rounds": summary["sync_rounds"],
            "tokens trained": summary["tokens_trained"],
        },
    )
    lines += _pairs("rewards by tier (NEURO minted)", summary["rewards_by_tier_neuro"])
    earnings = [{"group": k, **v} for k, v in summary["earnings_neuro_per_day"].items()]
    lines += ["net earnings per online day (NEURO)", *_table(earnings)]
    attackers = [{"behaviour": k, **v} for k, v in summary["attackers"].items()]
    lines += ["attackers", *_table(attackers)]
    lines += _pairs(
        "defence",
        {
            "honest nodes wrongly slashed": summary["honest_wrongly_slashed"],
            "sybil identities refused": summary["sybils_refused"],
            "embedding/head without holder (share, n >= 20)": summary[
                "edge_uncovered_share"
            ],
        },
    )
    lines += _pairs("spot checks", summary["spot_checks"])
    lines += _pairs("robust aggregation (contributions)", summary["aggregation"])
    if summary["storm"] is not None:
        lines += _pairs("churn storm", summary["storm"])
    lines += _pairs("vocabulary", summary["vocabulary"])
    lines += _pairs("inference", summary["inference"])
    return "\n".join(lines) + "\n"


def write_csv(result: SimulationResult, directory: Path) -> list[Path]:
    """series.csv (one row per step) and growth.csv (the rule's inputs at each announcement)."""
    directory.mkdir(parents=True, exist_ok=True)
    series_path = directory / "series.csv"
    with series_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(result.recorder.rows)
    growth_path = directory / "growth.csv"
    with growth_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        fields = (
            "at_s",
            "network_size",
            "total_memory_bytes",
            "min_holders",
            "steps_since_upgrade",
            "new_depth",
        )
        writer.writerow(fields)
        for entry in result.world.growth_log:
            row = {**entry, "min_holders": int(entry["holder_counts"].min())}
            writer.writerow([row[f] for f in fields])
    return [series_path, growth_path]


def write_charts(result: SimulationResult, directory: Path) -> list[Path]:
    """One PNG per chart in CHARTS; needs matplotlib (pip install 'neuroshard-agent[sim]')."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError as error:
        raise ScenarioError(
            "charts need matplotlib: pip install 'neuroshard-agent[sim]' (or leave out --out)"
        ) from error
    directory.mkdir(parents=True, exist_ok=True)
    index = {name: i for i, name in enumerate(COLUMNS)}
    time_h = [row[index["time_h"]] for row in result.recorder.rows]
    written = []
    for file_name, title, columns in CHARTS:
        figure, axes = pyplot.subplots(figsize=(8, 4))
        for column in columns:
            axes.plot(
                time_h,
                [row[index[column]] for row in result.recorder.rows],
                label=column,
            )
        axes.set_title(f"{result.scenario.name}: {title}")
        axes.set_xlabel("simulated hours")
        axes.legend(loc="best", fontsize="small")
        figure.tight_layout()
        figure.savefig(directory / file_name, dpi=100)
        pyplot.close(figure)
        written.append(directory / file_name)
    return written
