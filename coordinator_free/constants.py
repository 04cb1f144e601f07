"""Every number of the protocol, in one place (DESIGN.md is the source).

Rules take these as defaults; nothing else in the code base may hard-wire a
copy. Durations are seconds, money is NEURO, sizes are bytes unless the name
says otherwise. Tests shrink timings through config objects that default to
these values, never by patching this module.
"""

from __future__ import annotations

from typing import Final

# ---------------------------------------------------------------- versions (§3)
PROTOCOL_VERSION: Final = 1

# ------------------------------------------------------------------- model (§3)
GENESIS_LAYER_COUNT: Final = 11
GENESIS_HIDDEN_SIZE: Final = 512
BYTE_VOCAB_SIZE: Final = 256
SPECIAL_TOKEN_COUNT: Final = 10  # pad, bos, eos, unk + six reserved
GENESIS_VOCAB_SIZE: Final = BYTE_VOCAB_SIZE + SPECIAL_TOKEN_COUNT  # 266

# ------------------------------------------------------- benchmark, tiers (§4)
REFERENCE_BATCH_SEQUENCES: Final = 8
REFERENCE_BATCH_TOKENS: Final = 256
# Upper bounds (exclusive) of ms per layer for T1..T4; anything slower is T5.
TIER_UPPER_BOUNDS_MS: Final = (10.0, 50.0, 200.0, 1000.0)
TIER_NAMES: Final = ("T1", "T2", "T3", "T4", "T5")
# Which tiers may share a quorum with which (T5 with none).
TIER_COMPATIBILITY: Final = {
    1: frozenset({1, 2}),
    2: frozenset({1, 2, 3}),
    3: frozenset({2, 3, 4}),
    4: frozenset({3, 4}),
    5: frozenset(),
}
# max_layers from memory (DESIGN is silent on the formula; see tiers.py).
MEMORY_RESERVE_FRACTION: Final = 0.2  # kept back for runtime, activations, OS
TRAINING_BYTES_PER_PARAMETER: Final = 16  # fp32 weight + gradient + AdamW m and v
INFERENCE_BYTES_PER_PARAMETER: Final = 4  # fp32 weight only

# ---------------------------------------------------------- identity, wire (§5)
MAX_CLOCK_SKEW_S: Final = 30.0

# ------------------------------------------------------- discovery, health (§6)
HEARTBEAT_INTERVAL_S: Final = 30.0
DEGRADED_AFTER_MISSED_HEARTBEATS: Final = 2
OFFLINE_AFTER_S: Final = 120.0
PEER_FORGET_AFTER_S: Final = 3600.0  # silence before a peer leaves the table (local policy)
MDNS_SERVICE_TYPE: Final = "_neuroshard._tcp.local."

# --------------------------------------------------------- adaptive scale (§7)
# Each table is ((upper bound of n, exclusive), value) ... then the value past
# the last bound.
MIN_QUORUM_SIZE_TABLE: Final = ((5, 1), (20, 2))
MIN_QUORUM_SIZE_LARGE: Final = 3
REPLICAS_PER_LAYER_TABLE: Final = ((5, 1), (20, 2))
REPLICAS_PER_LAYER_LARGE: Final = 3
SYNC_INTERVAL_BATCHES_TABLE: Final = ((10, 100), (100, 500))
SYNC_INTERVAL_BATCHES_LARGE: Final = 1000
SPOT_CHECK_PROBABILITY_TABLE: Final = ((20, 0.0), (100, 0.01), (500, 0.03))
SPOT_CHECK_PROBABILITY_LARGE: Final = 0.05
QUORUM_SESSION_TABLE_S: Final = ((20, 1800.0),)
QUORUM_SESSION_LARGE_S: Final = 3600.0
GROWTH_THRESHOLD_BASE: Final = 1.5
GROWTH_THRESHOLD_PER_DOUBLING: Final = 0.1

# Phases by network size: (first n of the phase, name). Ordered.
PHASES: Final = (
    (1, "Genesis"),
    (2, "Micro"),
    (5, "Small"),
    (20, "Medium"),
    (100, "Growing"),
    (500, "Large"),
    (5000, "Massive"),
)

# ---------------------------------------------------------------- quorums (§8)
QUORUM_SESSION_CAP_S: Final = 14400.0
RENEWAL_AT_SESSION_FRACTION: Final = 0.8
RENEWAL_MIN_BATCHES: Final = 1000
REPLACEMENT_SPEEDUP_FRACTION: Final = 0.2  # a candidate > 20 % faster may replace
SLOW_MEMBER_LATENCY_FACTOR: Final = 2.0
SLOW_MEMBER_WINDOW_S: Final = 300.0
FORMATION_LATENCY_SCALE_MS: Final = 100.0  # score = new / (1 + latency/100)
# A candidate the founder never measured counts as this slow (DESIGN is silent):
# it can still be picked, but any measured peer within 1 s beats it.
FORMATION_UNKNOWN_LATENCY_MS: Final = 1000.0
# Members have this long to accept a proposal before the founder gives up and
# retries with alternates (DESIGN is silent; two heartbeat intervals).
QUORUM_PROPOSAL_TIMEOUT_S: Final = 60.0

# --------------------------------------------------------------- training (§9)
OUTER_LEARNING_RATE: Final = 0.7
OUTER_NESTEROV_MOMENTUM: Final = 0.9
CONTRIBUTION_WEIGHT_FLOOR: Final = 0.1
# Freshness of a DiLoCo contribution by age: ((age upper bound s), factor)...
DILOCO_FRESHNESS_TABLE: Final = ((3600.0, 1.0), (86400.0, 0.9), (604800.0, 0.7))
DILOCO_FRESHNESS_OLDEST: Final = 0.3
TRIM_FRACTION: Final = 0.2
BYZANTINE_FRACTION: Final = 0.2
# Robust aggregation (coordinator_free/aggregation.py): a contribution longer
# than this × the cohort's median norm is scaled down to it (§15 magnitude
# check); honest vectors are almost never that long, large noise always is.
CLIP_MEDIAN_NORM_FACTOR: Final = 2.0
# Geometric median (smoothed Weiszfeld): stop after this many steps, or once a
# step moves less than this share of the contributions' RMS pairwise distance.
GEOMETRIC_MEDIAN_MAX_ITERATIONS: Final = 200
GEOMETRIC_MEDIAN_RELATIVE_TOLERANCE: Final = 1e-7

# ----------------------------------------------------------- layer growth (§10)
GROWTH_MIN_STEPS_SINCE_UPGRADE: Final = 10000
GROWTH_MIN_NEW_LAYERS_EXCLUSIVE: Final = 2  # grow only if depth rises by > 2
GROWTH_GRACE_S: Final = 600.0
GROWTH_MAX_EXTENSIONS: Final = 3
GROWTH_WARMUP_STEPS: Final = 1000
GROWTH_WARMUP_START_LR_FACTOR: Final = 0.1
NEW_LAYER_OUTPUT_SCALE: Final = 0.01
# DESIGN is silent on how far one upgrade may grow: at most this × today's depth
# (growth stays geometric, and most of the model is never near-identity at once).
GROWTH_MAX_DEPTH_FACTOR: Final = 2
# Activation needs, per new layer, at least this many holders of tier T1-T3.
GROWTH_MIN_FAST_HOLDERS_PER_NEW_LAYER: Final = 1
GROWTH_FAST_HOLDER_SLOWEST_TIER: Final = 3

# ------------------------------------------------------------ vocabulary (§11)
VOCAB_PROPOSER_MIN_STAKE: Final = 100.0
VOCAB_MIN_MERGE_FREQUENCY_EXCLUSIVE: Final = 1000
VOCAB_MAX_NEW_TOKENS: Final = 1000
VOCAB_SENSITIVE_PATTERNS: Final = ("password", "secret", "key", "token")
VOCAB_DISCUSSION_S: Final = 7 * 86400.0
VOCAB_VOTING_S: Final = 7 * 86400.0
VOCAB_GRACE_S: Final = 7 * 86400.0
VOCAB_MIN_TURNOUT_FRACTION: Final = 0.30
VOCAB_APPROVAL_FRACTION: Final = 0.66
VOCAB_NEW_ROW_STD: Final = 0.01
VOCAB_ROLLBACK_CALL_STAKE_FRACTION: Final = 0.10
VOCAB_ROLLBACK_VOTE_S: Final = 48 * 3600.0
# DESIGN says "a small reward" and "slashed" without numbers; the choices:
VOCAB_PROPOSER_REWARD_FRACTION: Final = 0.05  # of the proposal stake, paid on activation
VOCAB_ROLLBACK_SLASH_FRACTION: Final = 1.0  # of the proposal stake, on a passed rollback

# ------------------------------------------------------------- inference (§12)
BASE_PRICE_PER_TOKEN: Final = 0.0001
PRICE_FLOOR_PER_TOKEN: Final = 0.00005
SPEED_PRICE_FACTOR: Final = {1: 1.5, 2: 1.3, 3: 1.0, 4: 0.8}
REPUTATION_PRICE_BASE: Final = 0.8
REPUTATION_PRICE_SPAN: Final = 0.4
INITIATOR_SHARE: Final = 0.15
FINISHER_SHARE: Final = 0.20
BURN_SHARE: Final = 0.05
INFERENCE_STALL_TIMEOUT_S: Final = 30.0

# ------------------------------------------------------------------ PoNW (§13)
CHALLENGE_WINDOW_S: Final = 600.0
CHALLENGER_STAKE: Final = 10.0
CHALLENGE_ANSWER_DEADLINE_S: Final = 300.0
VALID_PROOF_CHALLENGER_STAKE_TO_PROVER: Final = 0.5
FRAUD_SLASH_STAKE_MULTIPLE: Final = 2.0
# A challenge whose prover answered but whose challenger posts no verdict
# within this long is settled for the prover (DESIGN is silent; without a
# limit one silent challenger could hold a proof's reward forever).
CHALLENGE_VERDICT_DEADLINE_S: Final = 300.0
# Gradients are committed as a Merkle tree over chunks of this many float32
# values (4 KiB leaves); a challenger asks for this many sampled chunks.
MERKLE_CHUNK_VALUES: Final = 1024
PONW_SAMPLED_GRADIENT_CHUNKS: Final = 4
# Recomputed values match a claim when |claimed − recomputed| <=
# absolute + relative·|recomputed|, element by element: different hardware
# (CPU fp32, GPU TF32) differs in the last bits, a lazy node by far more.
PONW_RELATIVE_TOLERANCE: Final = 1e-2
PONW_ABSOLUTE_TOLERANCE: Final = 1e-3

# --------------------------------------------------------------- rewards (§14)
PIPELINE_REWARD_PER_BATCH_LAYER: Final = 0.0005
ASYNC_REWARD_PER_BATCH_LAYER: Final = 0.0003
ASYNC_FRESHNESS_TABLE: Final = ((3600.0, 1.0), (86400.0, 0.7), (604800.0, 0.5))
ASYNC_FRESHNESS_OLDEST: Final = 0.3
UPTIME_REWARD_PER_MINUTE: Final = 0.0001
DATA_REWARD_PER_SAMPLE: Final = 0.00001
EMBEDDING_HOLDER_BONUS: Final = 0.2
HEAD_HOLDER_BONUS: Final = 0.3
TRAINING_BONUS: Final = 0.1
SCARCITY_EDGE_LAYER_FACTOR: Final = 1.5
SCARCITY_CAP: Final = 1.0
# The ledger counts money in integer nano-NEURO so that every node's fold sums
# exactly; 0.00001 NEURO (one data sample) is 10 000 nano-NEURO.
NANO_PER_NEURO: Final = 10**9


# ---------------------------------------------------- admission, Sybil (§15)
# DESIGN's Sybil defence is "minimum stake, per-host limits", without numbers.
# From the Growing phase on ("full adversarial resistance", n >= 100) a node
# counts as a member (quorum, verifier, async contributor, rewards) only with
# at least this stake, and one host runs at most this many member nodes.
ADMISSION_FROM_NETWORK_SIZE: Final = 100
ADMISSION_MIN_STAKE: Final = CHALLENGER_STAKE  # NEURO: what a verifier must be able to put down
ADMISSION_MAX_NODES_PER_HOST: Final = 4  # a multi-GPU rig, not a Sybil farm
