"""Scenarios as data: what world the rules are run in (TOML files in scenarios/).

A scenario says how many nodes come and go, what hardware they bring, where
they are, who attacks and how, what clients ask for, and for how long. It
says nothing about the rules: those are coordinator_free's. Every field has
a unit comment; a TOML file sets any subset, section by section, and an
unknown key is refused with the list of known ones (a typo must not silently
run the default).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coordinator_free.constants import GENESIS_LAYER_COUNT
from coordinator_free.errors import ProtocolError

SCENARIO_DIR = Path(__file__).with_name("scenarios")


class ScenarioError(ProtocolError):
    """A scenario file or override that cannot be run."""


@dataclass(frozen=True)
class Population:
    initial_nodes: int = 1  # online at t = 0
    final_nodes: int = (
        1  # online at the end: arrivals grow the network geometrically towards it
    )
    mean_session_h: float = 72.0  # mean time a node stays online (exponential), hours
    crash_share: float = 0.3  # share of departures without a goodbye
    first_node_stays: bool = True  # the genesis node never leaves
    first_node_tier: int = (
        2  # the genesis machine's tier (someone's GPU rig); 0: drawn like the rest
    )


@dataclass(frozen=True)
class Model:
    initial_depth: int = GENESIS_LAYER_COUNT  # transformer blocks at t = 0
    parameters_per_layer: int = 3_152_384  # one genesis block (hidden 512, MLP 2048)
    fixed_parameters: int = 404_480  # embedding (266 tokens + 256 positions) + head (266) + final norm, ×512
    train_cost_factor: float = 3.0  # one training batch costs this many forward passes


@dataclass(frozen=True)
class Hardware:
    tier_shares: tuple[float, ...] = (0.05, 0.15, 0.30, 0.25, 0.25)  # T1..T5, sum 1
    memory_gib_low: tuple[float, ...] = (
        40.0,
        12.0,
        6.0,
        8.0,
        2.0,
    )  # free memory offered, GiB
    memory_gib_high: tuple[float, ...] = (80.0, 24.0, 16.0, 64.0, 8.0)
    fastest_ms_per_layer: float = 2.0  # lower end of T1's speed band, ms
    slowest_ms_per_layer: float = 5000.0  # upper end of T5's speed band, ms


@dataclass(frozen=True)
class Regions:
    count: int = 5  # regions nodes are spread over, uniformly
    intra_ms: float = 15.0  # round-trip latency inside a region, ms
    inter_ms_low: float = (
        40.0  # round trip between two regions: drawn once per pair, ms
    )
    inter_ms_high: float = 220.0
    jitter_ms: float = 10.0  # per-node extra latency, uniform in [0, jitter], ms


@dataclass(frozen=True)
class Adversaries:
    share: float = 0.0  # share of arriving nodes that attack
    lazy: float = 0.0  # relative weights of the behaviours among attackers
    slow: float = 0.0
    poison: float = 0.0
    sybil: float = 0.0
    collude: float = 0.0
    lazy_fake_share: float = 0.5  # share of a lazy node's batches it fakes
    slow_factor: float = (
        3.0  # a slow griefer runs this many times slower than it benchmarked
    )
    poison_scale: float = 8.0  # a poisoned pseudo-gradient: −scale × the true direction
    sybils_per_host: int = 10  # identities one Sybil host runs


@dataclass(frozen=True)
class Storm:
    at_h: float = -1.0  # when it starts, hours; negative: no storm
    share: float = 0.3  # share of online nodes that leave
    duration_h: float = 1.0  # they leave spread over this long, hours


@dataclass(frozen=True)
class Inference:
    requests_per_node_h: float = 0.02  # client requests per online node per hour
    max_tokens: int = 256  # tokens each request asks for
    quorum_choices: int = 3  # quorums a client compares before it picks the cheapest
    new_reputation: float = 0.5  # reputation a member starts with, [0, 1]


@dataclass(frozen=True)
class Vocabulary:
    proposals_at_h: tuple[float, ...] = ()  # when a proposal is opened, hours
    approve_share: float = 0.8  # share of voters who approve
    turnout_share: float = 0.6  # share of staked nodes who vote
    discussion_h: float = 168.0  # governance periods, hours (DESIGN: 7 days each)
    voting_h: float = 168.0
    grace_h: float = 168.0


@dataclass(frozen=True)
class Economy:
    stake_neuro: float = (
        20.0  # what an honest node brings and stakes when it joins, NEURO
    )
    ledger_period_h: float = (
        6.0  # accrued rewards become ledger events this often, hours
    )
    verdict_samples_per_step: int = (
        4  # honest spot checks per step judged by the real verdict
    )


@dataclass(frozen=True)
class Views:
    sample_size: int = (
        512  # nodes in a sampled view (>= 500: §7 values equal any larger n)
    )
    formation_candidates: int = 24  # free candidates a founder looks up
    formation_retry_s: float = 600.0  # a founder that failed tries again after this, s
    mode_recheck_s: float = 7200.0  # a free node that cannot found a quorum re-selects its mode this often, s
    aggregation_sample: int = (
        16  # contributions the real aggregator sees per cohort class
    )


@dataclass(frozen=True)
class Scenario:
    name: str = "custom"
    description: str = ""
    days: float = 1.0  # simulated time, days
    seed: int = 0  # one seed decides every draw
    step_s: float = 300.0  # aggregated time step for training, rewards and checks, s
    population: Population = field(default_factory=Population)
    model: Model = field(default_factory=Model)
    hardware: Hardware = field(default_factory=Hardware)
    regions: Regions = field(default_factory=Regions)
    adversaries: Adversaries = field(default_factory=Adversaries)
    storm: Storm = field(default_factory=Storm)
    inference: Inference = field(default_factory=Inference)
    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    economy: Economy = field(default_factory=Economy)
    views: Views = field(default_factory=Views)

    @property
    def duration_s(self) -> float:
        return self.days * 86400.0


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key(s) {unknown}; known: {sorted(known)}"
        )
    built = {}
    for name, value in values.items():
        default = (
            known[name].default_factory()
            if known[name].default_factory is not dataclasses.MISSING
            else None
        )
        if dataclasses.is_dataclass(default):
            if not isinstance(value, dict):
                raise ScenarioError(f"{where}.{name} must be a table, got {value!r}")
            built[name] = _build(type(default), value, f"{where}.{name}")
        else:
            built[name] = tuple(value) if isinstance(value, list) else value
    return cls(**built)


def scenario_from_mapping(values: dict[str, Any], where: str = "scenario") -> Scenario:
    scenario = _build(Scenario, values, where)
    check_scenario(scenario)
    return scenario


def available_scenarios() -> list[str]:
    return sorted(path.stem for path in SCENARIO_DIR.glob("*.toml"))


def load_scenario(name_or_path: str) -> Scenario:
    """A built-in scenario by name (see available_scenarios) or a TOML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIO_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise ScenarioError(
            f"no scenario {name_or_path!r}: built-in ones are {available_scenarios()}, or give a .toml path"
        )
    with path.open("rb") as handle:
        try:
            values = tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise ScenarioError(f"{path}: not valid TOML: {error}") from error
    return scenario_from_mapping(values, str(path))


def with_overrides(
    scenario: Scenario,
    *,
    nodes: int | None = None,
    days: float | None = None,
    seed: int | None = None,
) -> Scenario:
    """`--nodes` sets the final size (and the initial one when the scenario is steady)."""
    population = scenario.population
    if nodes is not None:
        steady = population.initial_nodes == population.final_nodes
        initial = nodes if steady else min(population.initial_nodes, nodes)
        population = dataclasses.replace(
            population, initial_nodes=initial, final_nodes=nodes
        )
    changed = dataclasses.replace(
        scenario,
        population=population,
        days=scenario.days if days is None else days,
        seed=scenario.seed if seed is None else seed,
    )
    check_scenario(changed)
    return changed


def check_scenario(scenario: Scenario) -> None:
    """Refuse values the simulator cannot run, with every problem at once."""
    problems = []
    population, hardware = scenario.population, scenario.hardware
    if not 1 <= population.initial_nodes <= population.final_nodes:
        problems.append(
            f"need 1 <= initial_nodes <= final_nodes, got {population.initial_nodes}, {population.final_nodes}"
        )
    if scenario.days <= 0 or scenario.step_s <= 0:
        problems.append(
            f"days ({scenario.days}) and step_s ({scenario.step_s}) must be > 0"
        )
    if population.mean_session_h <= 0:
        problems.append(f"mean_session_h must be > 0, got {population.mean_session_h}")
    tier_fields = (
        hardware.tier_shares,
        hardware.memory_gib_low,
        hardware.memory_gib_high,
    )
    if any(len(values) != 5 for values in tier_fields):
        problems.append(
            "tier_shares, memory_gib_low and memory_gib_high need 5 values (T1..T5)"
        )
    elif abs(sum(hardware.tier_shares) - 1.0) > 1e-6 or min(hardware.tier_shares) < 0:
        problems.append(
            f"tier_shares must be >= 0 and sum to 1, got {hardware.tier_shares}"
        )
    if scenario.regions.count < 1:
        problems.append(f"regions.count must be >= 1, got {scenario.regions.count}")
    adversaries = scenario.adversaries
    weights = (
        adversaries.lazy,
        adversaries.slow,
        adversaries.poison,
        adversaries.sybil,
        adversaries.collude,
    )
    if (
        not 0 <= adversaries.share < 1
        or min(weights) < 0
        or (adversaries.share > 0 and sum(weights) <= 0)
    ):
        problems.append(
            "adversaries.share must be in [0, 1) with non-negative behaviour weights, one > 0"
        )
    if scenario.views.sample_size < 20 or scenario.views.formation_candidates < 1:
        problems.append("views.sample_size must be >= 20 and formation_candidates >= 1")
    if problems:
        raise ScenarioError(f"scenario {scenario.name!r}: " + "; ".join(problems))
