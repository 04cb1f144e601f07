"""How fast the network simulator runs steady-100k: 100,000 nodes for one simulated day.

Prints the machine (CPU, cores, load average before the run), wall time,
discrete events per second, rule calls per second (quorum lifecycle events,
formations, mode decisions), and peak resident memory (resource.getrusage).
Goal (issue 8): at most 120 s and under 4 GB. Take the figure on a quiet
machine; the load average is printed so a busy one shows.

Run: python benchmarks/simulator_speed.py [--nodes N] [--days D] [--seed S]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

from agent.bench import cpu_model
from coordinator_free.sim.engine import run_scenario
from coordinator_free.sim.scenario import load_scenario, with_overrides

GOAL_WALL_S = 120.0
GOAL_MEMORY_BYTES = 4 * 2**30


def peak_rss_bytes() -> int:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if platform.system() == "Darwin" else peak * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="steady-100k")
    parser.add_argument("--nodes", type=int, default=None)
    parser.add_argument("--days", type=float, default=None)
    parser.add_argument("--seed", type=int, default=None)
    arguments = parser.parse_args()
    scenario = with_overrides(
        load_scenario(arguments.scenario),
        nodes=arguments.nodes,
        days=arguments.days,
        seed=arguments.seed,
    )
    load_before = os.getloadavg()
    started = time.perf_counter()
    result = run_scenario(scenario)
    wall_s = time.perf_counter() - started
    tallies = result.world.tallies
    rule_calls = (
        tallies.lifecycle_events
        + tallies.formations
        + sum(tallies.formation_failures.values())
    )
    rule_calls += tallies.mode_decisions
    peak = peak_rss_bytes()
    print(
        f"machine      {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} (before the run)"
    )
    print(
        f"scenario     {scenario.name}: {scenario.population.final_nodes:,} nodes, {scenario.days} days, "
        f"step {scenario.step_s:.0f} s, seed {scenario.seed}"
    )
    print(
        f"wall time    {wall_s:.1f} s  (goal <= {GOAL_WALL_S:.0f} s: ratio {wall_s / GOAL_WALL_S:.2f})"
    )
    print(
        f"events       {result.events_processed:,} discrete, {result.events_processed / wall_s:,.0f}/s"
    )
    print(f"rule calls   {rule_calls:,}, {rule_calls / wall_s:,.0f}/s")
    print(
        f"             formations {tallies.formations:,}, lifecycle events {tallies.lifecycle_events:,}, "
        f"mode decisions {tallies.mode_decisions:,}, replacements {tallies.replacements:,}"
    )
    print(
        f"peak memory  {peak / 2**30:.2f} GiB  (goal < 4 GiB: ratio {peak / GOAL_MEMORY_BYTES:.2f})"
    )


if __name__ == "__main__":
    main()
