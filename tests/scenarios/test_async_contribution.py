"""An async contributor (in this test process, real PeerService and ONNX runtime) against two real holders.

Its Δ is accepted into a cohort round with weight √batches × freshness,
normalised (checked in the holders' round log); a Δ claiming starting
weights the holders never had is refused with wrong_start_weights.
"""

from __future__ import annotations

import asyncio
import math
import os
import time

import pytest
from cohort_agents import cohort_args, logged_rounds, resume, resume_when_ready
from peer_agents import FAST_TIMINGS, sees_alive, wait_for

from agent.checkpoint import CheckpointStore
from agent.cohort import messages as m
from agent.cohort.async_contributor import AsyncContributionError, AsyncContributor
from agent.cohort.transfer import CohortTransfer
from agent.config import TrainingConfig
from agent.data.batches import Corpus
from agent.data.shards import ShardStore, build_or_open, shard_dir
from agent.identity import load_or_create_identity
from agent.model.arch import get_architecture
from agent.model.parameters import StageSpec
from agent.network.config import network_config_from_mapping
from agent.network.messages import Advert
from agent.network.service import PeerService
from agent.runtime.select import create_runtime
from agent.training.schedule import resolve_training
from agent.training.solo import SoloTrainer

HOLDER_INTERVAL = 20
ASYNC_STEPS = 5


async def contribute(tmp_path, holders, network_name: str):
    arch = get_architecture("tiny")
    config = network_config_from_mapping(FAST_TIMINGS | {
        "host": "127.0.0.1", "port": 0, "local_api_port": 0, "network_name": network_name, "mdns_enabled": False,
        "bootstrap_peers": [f"127.0.0.1:{h.peer_port}" for h in holders]})
    identity = load_or_create_identity(tmp_path / "async")
    advert = lambda: Advert(arch_name=arch.name, arch_version=arch.arch_version, vocab_version=arch.vocab_version)
    runtime = create_runtime("onnx", StageSpec.whole(arch), seed=7)
    shards = build_or_open(ShardStore(shard_dir(tmp_path / "async", tmp_path / "corpus")), data_dir=tmp_path / "corpus",
                           shard_bytes=1 << 20)
    trainer = SoloTrainer(runtime=runtime, corpus=Corpus(shards, validation_fraction=0.05),
                          checkpoints=CheckpointStore(tmp_path / "async" / "ck", StageSpec.whole(arch)),
                          training=resolve_training(TrainingConfig(seed=7, warmup_steps=1), arch))
    async with PeerService(config, identity, advert) as peers:
        deadline = time.monotonic() + 15
        while len([p for p in peers.peers() if p.layer_start is not None]) < len(holders):
            assert time.monotonic() < deadline, "the async node never saw the holders"
            await asyncio.sleep(0.1)
        transfer = CohortTransfer(peers.client, call_timeout_s=10.0, body_limit_bytes=config.tensor_body_limit_bytes)
        contributor = AsyncContributor(arch=arch, runtime=runtime, transfer=transfer, peers=peers.peers,
                                       train_step=lambda: trainer.train_step().batch_id, steps=ASYNC_STEPS)
        submitted = await contributor.contribute_once()
        forged = contributor._message(await contributor._fetch(contributor.holders()),
                                      {layer: "0" * 64 for layer in range(arch.layer_count)}, ["x"], 1)
        with pytest.raises(AsyncContributionError) as refused:
            await contributor.submit(forged, contributor.holders())
    runtime.close()
    return identity.node_id, submitted, refused.value.code


def test_async_contribution_counts_with_its_weight_and_a_wrong_start_is_refused(launcher, tmp_path):
    network = ("--network", f"async-{os.getpid()}-{time.monotonic_ns()}")
    args = cohort_args(sync_interval=HOLDER_INTERVAL, max_steps=400)
    a = launcher.start("a", *network, *args)
    b = launcher.start("b", *network, *args, "--peer", f"127.0.0.1:{a.peer_port}")
    wait_for(lambda: sees_alive(a, [b]) and sees_alive(b, [a]), timeout_s=15, what="a and b to see each other")
    resume_when_ready(a, b)
    wait_for(lambda: logged_rounds(a) and logged_rounds(b), timeout_s=40, what="a first round on both holders")
    node_id, submitted, code = asyncio.run(contribute(tmp_path, [a, b], network[1]))
    assert code == m.WRONG_START_WEIGHTS
    assert set(submitted.holders) == {a.node_id, b.node_id}
    prefix = node_id[:12]
    wait_for(lambda: all(submitted.round_number in logged_rounds(h) for h in (a, b)), timeout_s=40,
             what=f"round {submitted.round_number} on both holders")
    expected = math.sqrt(ASYNC_STEPS) / (2 * math.sqrt(HOLDER_INTERVAL) + math.sqrt(ASYNC_STEPS))
    for holder in (a, b):
        weights, left_out = logged_rounds(holder)[submitted.round_number]
        assert prefix in weights, (weights, left_out)
        assert weights[prefix] == pytest.approx(expected, abs=1e-3)


def test_a_lone_holder_counts_an_async_contribution_in_a_round_it_runs(launcher, tmp_path):
    # A holder with no cohort passes its rounds alone. Each such round counts as
    # passed, so a contribution aimed at it is told round_closed and lands in a
    # round the holder really runs (before, it waited for a round that never came).
    network = ("--network", f"lone-{os.getpid()}-{time.monotonic_ns()}")
    a = launcher.start("a", *network, *cohort_args(sync_interval=5, max_steps=3000))
    resume(a)
    wait_for(lambda: "step 20/" in a.log_path.read_text(errors="replace"), timeout_s=60,
             what="the lone holder to pass a few rounds alone")
    node_id, submitted, code = asyncio.run(contribute(tmp_path, [a], network[1]))
    assert code == m.WRONG_START_WEIGHTS
    assert submitted.holders == (a.node_id,)
    wait_for(lambda: submitted.round_number in logged_rounds(a), timeout_s=40,
             what=f"round {submitted.round_number} on the lone holder")
    weights, left_out = logged_rounds(a)[submitted.round_number]
    assert node_id[:12] in weights and left_out == [], (weights, left_out)
