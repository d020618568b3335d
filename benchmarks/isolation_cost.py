"""What `rollout.isolation: process` costs against `inprocess`: episodes per second, side by side.

    .venvs/main/bin/python benchmarks/isolation_cost.py               # tiny model, 48 episodes
    .venvs/main/bin/python benchmarks/isolation_cost.py --episodes 96 --concurrency 8

The same one-call episodes (the OpenAI SDK client from the tuner, 8 tokens, the tiny model)
through the rollout runner on one engine, alternating the two isolations for several rounds and
keeping each one's best round (the machine's other work only ever slows a round down). This is
the figure the default rests on (docs/architecture.md, "Isolation"): `process` gives every episode
a forked worker process reaching the gateway over loopback HTTP; `inprocess` runs it as a
coroutine of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from ajet_core import Workflow, WorkflowOutput
from ajet_core.config.models import AjetConfig
from ajet_core.gateway import Gateway
from ajet_core.rollout.isolation import executor_for
from ajet_core.rollout.runner import RolloutRunner, RolloutSettings
from ajet_core.schema import Task

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = f"{Path(__file__).resolve()}:OneCall"


class OneCall(Workflow):
    async def execute(self, task, tuner):
        client = tuner.as_raw_openai_sdk_client()
        await client.chat.completions.create(
            messages=[{"role": "user", "content": task.task.main_query}]
        )
        return WorkflowOutput(reward=0.0)


async def episodes_per_second(engine, isolation: str, count: int, concurrency: int) -> float:
    config = AjetConfig.model_validate(
        {
            "workflow": {"name": WORKFLOW},
            "rollout": {"max_tokens_per_call": 8, "isolation": isolation},
        }
    )
    gateway = Gateway(engine, config, mode="train")
    runner = RolloutRunner(
        gateway=gateway,
        make_workflow=OneCall,
        judger=None,
        tracker=None,
        settings=RolloutSettings(
            num_repeat=1,
            max_concurrency=concurrency,
            episode_timeout=600,
            engine_error_retries=0,
            seed=1,
            trainable_targets=None,
        ),
        make_executor=executor_for(config, OneCall, None),
    )
    tasks = [Task(task_id=f"t{i}", main_query=f"What is {i} + 2?") for i in range(count)]
    try:
        started = time.perf_counter()
        records = await runner.run_tasks(tasks, step=1)
        seconds = time.perf_counter() - started
    finally:
        await gateway.stop_http()
    failed = [r for r in records if not r.ok]
    if failed:
        raise SystemExit(f"{isolation}: {len(failed)} episodes failed, e.g. {failed[0].error}")
    return count / seconds


async def main_async(args: argparse.Namespace) -> dict[str, float]:
    from ajet_backbone_debug.engine import TransformersEngine

    engine = TransformersEngine.from_path(str(args.model), device="cpu")
    best = {"inprocess": 0.0, "process": 0.0}
    try:
        # Off the clock: the engine's first batches, and the forkserver's start (it imports the
        # client libraries once for every later worker).
        for isolation in best:
            await episodes_per_second(engine, isolation, 4, args.concurrency)
        for _ in range(args.rounds):
            for isolation in best:
                rate = await episodes_per_second(engine, isolation, args.episodes, args.concurrency)
                best[isolation] = max(best[isolation], rate)
    finally:
        engine.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tiny = sorted((REPO / ".cache").glob("tiny-*"))
    parser.add_argument("--model", type=Path, default=tiny[0] if tiny else None)
    parser.add_argument("--episodes", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.model is None:
        raise SystemExit("no tiny model under .cache; run scripts/setup_models.sh or pass --model")
    best = asyncio.run(main_async(args))
    print(f"{'isolation':<10} {'episodes/s':>11}")
    for isolation, rate in best.items():
        print(f"{isolation:<10} {rate:>11.1f}")
    print(f"process / inprocess: {best['process'] / best['inprocess']:.2f}x")


if __name__ == "__main__":
    main()
