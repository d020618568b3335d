"""Metric names, defined once for every backbone (documented in docs/metrics.md).

A test checks that docs/metrics.md lists every name defined here.
"""

from __future__ import annotations

# Rollout: what the episodes of one step did.
REWARD_MEAN = "rollout/reward_mean"
REWARD_STD = "rollout/reward_std"
SUCCESS_RATE = "rollout/success_rate"
EPISODES = "rollout/episodes"
EPISODES_FAILED = "rollout/episodes_failed"
EPISODES_TIMED_OUT = "rollout/episodes_timed_out"
# rollout.isolation=remote: leases that ran out without a heartbeat (the episode went back in the
# queue with its calls discarded; it is counted once per expiry, whatever came of it after).
EPISODES_EXPIRED = "rollout/episodes_expired"
ENGINE_RETRIES = "rollout/engine_retries"
LLM_CALLS = "rollout/llm_calls"
RESPONSE_TOKENS = "rollout/response_tokens"
TOKENS_PER_SECOND = "rollout/tokens_per_second"
DRIFT_FALLBACKS = "rollout/drift_fallbacks"
MALFORMED_TOOL_CALLS = "rollout/malformed_tool_calls"
GATEWAY_ERRORS = "rollout/gateway_errors"
ROLLOUT_SECONDS = "rollout/seconds"
GROUPS = "rollout/groups"
GROUPS_KEPT = "rollout/groups_kept"
GROUPS_DROPPED_EQUAL_REWARD = "rollout/groups_dropped_equal_reward"
GROUPS_DROPPED_TOO_SMALL = "rollout/groups_dropped_too_small"
# Consecutive training steps in which every episode failed (rollout.max_failed_steps stops the run).
FAILED_STEPS_IN_A_ROW = "rollout/failed_steps_in_a_row"

# Why episodes failed: each failed episode is counted once, under
# f"rollout/episodes_failed/{reason}".
FAILED_TIMEOUT = "timeout"  # past rollout.episode_timeout (workflow and judging together)
FAILED_WORKFLOW_ERROR = "workflow_error"  # the workflow raised an exception
FAILED_WORKFLOW_EXIT = "workflow_exit"  # sys.exit / KeyboardInterrupt inside the workflow
FAILED_WORKFLOW_CANCELLED = "workflow_cancelled"  # the workflow raised CancelledError itself
FAILED_WORKER_DIED = "worker_died"  # rollout.isolation=process: os._exit, a crash, a signal
FAILED_REMOTE_ABORTED = "remote_aborted"  # rollout.isolation=remote: the worker aborted it
FAILED_BAD_OUTPUT = "bad_output"  # not a WorkflowOutput (or one that failed validation)
FAILED_BAD_REWARD = "bad_reward"  # NaN, infinite or non-numeric reward / is_success
FAILED_NO_REWARD = "no_reward"  # reward=None and no judger
FAILED_JUDGER_ERROR = "judger_error"  # the judger or the tracker raised
FAILED_ENVIRONMENT_ERROR = "environment_error"  # the episode's environment failed
FAILED_ENGINE_ERROR = "engine_error"  # the engine failed and the retries ran out
FAILURE_REASONS = (
    FAILED_TIMEOUT,
    FAILED_WORKFLOW_ERROR,
    FAILED_WORKFLOW_EXIT,
    FAILED_WORKFLOW_CANCELLED,
    FAILED_WORKER_DIED,
    FAILED_REMOTE_ABORTED,
    FAILED_BAD_OUTPUT,
    FAILED_BAD_REWARD,
    FAILED_NO_REWARD,
    FAILED_JUDGER_ERROR,
    FAILED_ENVIRONMENT_ERROR,
    FAILED_ENGINE_ERROR,
)


def failed_metric(reason: str) -> str:
    return f"{EPISODES_FAILED}/{reason}"


# Samples: what the trackers built from the kept episodes.
SAMPLES = "samples/count"
SAMPLE_TOKENS = "samples/tokens"
TRAINED_TOKENS = "samples/trained_tokens"
SAMPLES_PER_EPISODE = "samples/per_episode"
# Zero-weight experiences sent for episodes without samples (trinity keeps its batches whole).
PLACEHOLDERS = "samples/placeholders"
# Weight versions between the policy that sampled a trained experience and the trainer's
# (trinity; the in-process loop in async mode, counted from each sample's oldest token).
STALENESS_MEAN = "samples/staleness_mean"
STALENESS_MAX = "samples/staleness_max"
# Async mode: the policy version (weight updates applied so far) the step trained from.
POLICY_VERSION = "train/policy_version"
# Async mode: samples left out because a token was more than trainer.max_staleness versions old.
DROPPED_STALE = "samples/dropped_stale"

# Training: the optimiser step.
LOSS = "train/loss"
PG_LOSS = "train/pg_loss"
KL = "train/kl"
CLIP_FRACTION = "train/clip_fraction"
GRAD_NORM = "train/grad_norm"
LEARNING_RATE = "train/lr"
ENTROPY = "train/entropy"
LOGPROB_GAP = "train/logprob_gap"
LOGPROB_GAP_MAX = "train/logprob_gap_max"
TRAIN_TOKENS = "train/tokens"
MICRO_BATCHES = "train/micro_batches"
# Token positions the forward pass computed (padding excluded; a shared prefix counts once).
COMPUTED_TOKENS = "train/computed_tokens"
SKIPPED_STEPS = "train/skipped_steps"
# Off-policy correction (async mode): the share of trained tokens sampled by older weights, and
# the mean of their truncated behaviour importance weights pi_proximal / pi_behaviour.
STALE_TOKEN_FRACTION = "train/stale_token_fraction"
BEHAVIOUR_WEIGHT_MEAN = "train/behaviour_weight_mean"
TRAIN_SECONDS = "train/seconds"

# Evaluation on the validation tasks.
EVAL_PASS_AT_1 = "eval/pass@1"
EVAL_PASS_AT_K = "eval/pass@k"
EVAL_REWARD_MEAN = "eval/reward_mean"
EVAL_TGC_AT_1 = "eval/tgc@1"
EVAL_TGC_AT_N = "eval/tgc@n"
EVAL_EPISODES_FAILED = "eval/episodes_failed"

STEP_SECONDS = "time/step_seconds"
# Shares of the step's wall time the trainer spent waiting for samples, and the engine spent
# with nothing to decode (engines that count their busy time); async training shrinks both.
TRAINER_IDLE_SHARE = "time/trainer_idle_share"
ENGINE_IDLE_SHARE = "time/engine_idle_share"
# Metrics measured on the wall clock: they differ between two runs of the same config.
WALL_CLOCK_METRICS = frozenset(
    {
        ROLLOUT_SECONDS,
        TRAIN_SECONDS,
        STEP_SECONDS,
        TOKENS_PER_SECOND,
        TRAINER_IDLE_SHARE,
        ENGINE_IDLE_SHARE,
    }
)

# Turns: per-turn diagnostics of multi-turn episodes (ajet_core/rollout/turn_metrics.py).
CALLS_PER_EPISODE = "turns/calls_per_episode"
PARSE_FAILURES = "turns/parse_failures"
PARSE_FAILURES_PER_EPISODE = "turns/parse_failures_per_episode"
# The WorkflowOutput.log_metrics key under which a workflow reports replies it could not parse.
PARSE_FAILURES_KEY = "parse_failures"
# Success rate by the number of LLM calls an episode made; longer episodes share the last bucket.
CALLS_BUCKETS = ("0", "1", "2", "3", "4", "5", "6", "7", "8+")


def calls_bucket(calls: int) -> str:
    return str(calls) if calls < 8 else "8+"


def success_by_calls_metric(bucket: str) -> str:
    return f"turns/success_by_calls/{bucket}"


# The WorkflowOutput.log_metrics key under which a workflow reports, turn by turn, whether that
# turn's answer was right (a list of 0/1, one per turn): episodes of a fixed length all land in
# one success_by_calls bucket, so this is how a researcher sees which turn fixed (or broke) it.
TURN_SUCCESS_KEY = "turn_success"
# Turn numbers from 1; later turns share the last bucket.
TURN_BUCKETS = ("1", "2", "3", "4", "5", "6", "7", "8+")


def turn_bucket(turn: int) -> str:
    return str(turn) if turn < 8 else "8+"


def success_at_turn_metric(bucket: str) -> str:
    return f"turns/success_at_turn/{bucket}"


# Per-agent metrics: f"agent/{agent}/{what}".
AGENT_PREFIX = "agent/"
AGENT_METRICS = ("reward_mean", "calls", "response_tokens", "samples")


def agent_metric(agent: str, what: str) -> str:
    return f"{AGENT_PREFIX}{agent}/{what}"


CONSOLE_METRICS = (
    REWARD_MEAN,
    SUCCESS_RATE,
    EPISODES_FAILED,
    LOSS,
    KL,
    LOGPROB_GAP,
    TOKENS_PER_SECOND,
    EVAL_PASS_AT_1,
    STEP_SECONDS,
)


def all_metric_names() -> list[str]:
    names = [
        v
        for k, v in globals().items()
        if k.isupper() and isinstance(v, str) and "/" in v and k != "AGENT_PREFIX"
    ]
    names += [success_by_calls_metric(bucket) for bucket in CALLS_BUCKETS]
    names += [success_at_turn_metric(bucket) for bucket in TURN_BUCKETS]
    return sorted(names + [failed_metric(reason) for reason in FAILURE_REASONS])
