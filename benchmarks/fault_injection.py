"""Fault injection: every fault of issue 18, tried again, with the figures table per area.

    .venvs/main/bin/python benchmarks/fault_injection.py [--storm N] [--quick]

Two parts:

1. the suite ``tests/reliability/`` (each misbehaving workflow/judger in both isolation modes,
   every sandbox escape, crashes and resumes of real ``ajet train`` runs, the env server's
   abuse), run through pytest with a collector; each test case is one fault tried;
2. (the long version, skipped by ``--quick``) a storm: ``N`` episodes per isolation mode, drawn
   at random from every misbehaving workflow plus well-behaved ones and run concurrently in one
   rollout on the tiny model. Each misbehaving episode must fail with its own reason; each good
   episode must come back with its reward and samples (otherwise its data was lost).

Columns: *tried*; *handled cleanly* (the fault was contained as specified); *failed badly* (the
run died, hung, or the fault was not contained); *data lost* (a test of preserved data — trained
steps, metrics, a good episode's result — that found it missing). Exit status 1 when either of
the last two is not zero.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "tests" / "reliability"
AREAS = {
    "test_episodes.py": "episodes (workflow, judger, reward)",
    "test_sandbox_escapes.py": "sandbox escapes",
    "test_crash_safety.py": "crash safety, early stop",
    "test_env_server.py": "env server",
}
# Tests whose failure would mean data was lost rather than only handled badly.
DATA_TESTS = {
    "test_a_crash_mid_run_keeps_the_steps_already_trained",
    "test_resume_survives_a_torn_metrics_line_and_never_repeats_the_closing_eval",
    "test_a_run_whose_every_episode_fails_stops_with_a_checkpoint",
    "test_a_full_disk_is_a_named_error_and_leaves_no_partial_checkpoint",
}
# Misbehaving workflows of tests/reliability/misbehaving.py and the reason each must fail with.
STORM = {
    "NanReward": "bad_reward",
    "InfReward": "bad_reward",
    "StringReward": "bad_reward",
    "StringSuccess": "bad_reward",
    "SysExit": "workflow_exit",
    "RaisesKeyboardInterrupt": "workflow_exit",
    "RaisesCancelled": "workflow_cancelled",
    "SwallowsCancellation": "timeout",
}
PROCESS_ONLY = {"OsExit": "worker_died", "SleepsForever": "timeout"}
# The workflows that must hit the episode timeout get a short one; the rest a generous one.
SHORT_TIMEOUTS = {"SwallowsCancellation": 1.0, "SleepsForever": 2.0}


class Collector:
    def __init__(self) -> None:
        self.rows: dict[str, Counter] = defaultdict(Counter)
        self.failures: list[str] = []

    def pytest_runtest_logreport(self, report) -> None:
        # One fault per test case: its call, or its setup when that failed or skipped.
        if report.when == "teardown" or (report.when == "setup" and report.passed):
            return
        area = AREAS.get(Path(report.nodeid.split("::")[0]).name, "other")
        if report.skipped:
            self.rows[area]["skipped"] += 1
            return
        name = report.nodeid.split("::")[-1].split("[")[0]
        self.rows[area]["tried"] += 1
        if report.passed:
            self.rows[area]["clean"] += 1
        else:
            self.rows[area]["bad"] += 1
            self.rows[area]["lost"] += int(name in DATA_TESTS)
            self.failures.append(report.nodeid)


def run_suite() -> Collector:
    collector = Collector()
    pytest.main([str(SUITE), "-q", "-p", "no:cacheprovider"], plugins=[collector])
    return collector


async def _storm_batch(engine, isolation: str, draws: list[str], seed: int) -> list:
    from ajet_core.config.models import AjetConfig
    from ajet_core.gateway.core import Gateway
    from ajet_core.importing import import_object
    from ajet_core.rollout.isolation import executor_for
    from ajet_core.rollout.runner import RolloutRunner, RolloutSettings
    from ajet_core.schema import Task
    from ajet_core.tracking.timeline_merge import TimelineMergeTracker

    misbehaving = SUITE / "misbehaving.py"
    gateway_config = AjetConfig.model_validate({"rollout": {"max_tokens_per_call": 8}})
    gateway = Gateway(engine, gateway_config, mode="train")
    limit = asyncio.Semaphore(8)

    async def one(kind: str, index: int):
        config = AjetConfig.model_validate(
            {
                "workflow": {"name": f"{misbehaving}:{kind}"},
                "rollout": {"max_tokens_per_call": 8, "isolation": isolation},
            }
        )
        workflow = import_object(f"{misbehaving}:{kind}")
        runner = RolloutRunner(
            gateway=gateway,
            make_workflow=workflow,
            judger=None,
            tracker=TimelineMergeTracker.from_config(config),
            settings=RolloutSettings(1, 1, SHORT_TIMEOUTS.get(kind, 60.0), 0, seed, None),
            make_executor=executor_for(config, workflow, None),
        )
        async with limit:
            task = Task(task_id=f"{kind}-{index}", main_query="Hi")
            return kind, await runner.run_episode(task, step=1, mode="train", draw=index)

    try:
        return await asyncio.gather(*(one(kind, i) for i, kind in enumerate(draws)))
    finally:
        await gateway.stop_http()


def storm(episodes: int, seed: int) -> dict[str, Counter]:
    """Mixed good and misbehaving episodes, concurrently, per isolation mode."""
    from ajet_backbone_debug.engine import TransformersEngine
    from ajet_backbone_debug.models.tiny import ensure_tiny_model

    cache = Path(os.environ.get("AJET_TEST_CACHE") or REPO / ".cache")
    engine = TransformersEngine.from_path(str(ensure_tiny_model(cache)), max_model_len=1024, seed=0)
    rng = random.Random(seed)
    rows: dict[str, Counter] = {}
    for isolation in ("inprocess", "process"):
        kinds = dict(STORM, **(PROCESS_ONLY if isolation == "process" else {}))
        draws = [rng.choice([*kinds, "Good", "Good", "Good"]) for _ in range(episodes)]
        counts: Counter = Counter()
        rows[f"storm of mixed episodes, {isolation}"] = counts
        try:
            results = asyncio.run(_storm_batch(engine, isolation, draws, seed))
        except BaseException as exc:  # noqa: BLE001 - the run died: every episode failed badly
            print(f"storm ({isolation}) died: {type(exc).__name__}: {exc}")
            counts.update(tried=len(draws), bad=len(draws), lost=draws.count("Good"))
            continue
        for kind, record in results:
            counts["tried"] += 1
            if kind == "Good":
                good = bool(record.ok and record.reward is not None and record.samples)
                counts["clean" if good else "bad"] += 1
                counts["lost"] += 0 if good else 1
            elif not record.ok and record.metadata.get("failure_reason") == kinds[kind]:
                counts["clean"] += 1
            else:
                counts["bad"] += 1
                print(f"storm: {kind} gave {record.metadata.get('failure_reason')}: {record.error}")
    engine.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storm", type=int, default=40, help="episodes per isolation mode")
    parser.add_argument("--quick", action="store_true", help="the suite only, no storm")
    parser.add_argument("--storm-only", action="store_true", help="the storm only, no suite")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    collector = Collector() if args.storm_only else run_suite()
    rows = dict(collector.rows)
    if not args.quick:
        rows.update(storm(args.storm, args.seed))
    print()
    header = (
        f"{'area':<38} {'tried':>6} {'handled cleanly':>16} {'failed badly':>13} {'data lost':>10}"
    )
    print(header)
    print("-" * len(header))
    total: Counter = Counter()
    for area, counts in rows.items():
        total.update(counts)
        print(
            f"{area:<38} {counts['tried']:>6} {counts['clean']:>16} {counts['bad']:>13} "
            f"{counts['lost']:>10}"
        )
    print("-" * len(header))
    row = (total["tried"], total["clean"], total["bad"], total["lost"])
    print(f"{'total':<38} {row[0]:>6} {row[1]:>16} {row[2]:>13} {row[3]:>10}")
    if total["skipped"]:
        print(f"({total['skipped']} cases skipped: see pytest's summary above)")
    for failure in collector.failures:
        print(f"failed: {failure}")
    return 0 if total["bad"] == 0 and total["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
