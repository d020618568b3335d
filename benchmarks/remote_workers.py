"""Remote workers against in-process workers: episodes per minute, and what the remote path adds
to each LLM call. ``rollout.isolation: remote`` serves docs/remote_agents.md's episode API.

    .venvs/main/bin/python benchmarks/remote_workers.py                  # tiny model, 64 episodes
    .venvs/main/bin/python benchmarks/remote_workers.py --workers 1 4 16 --episodes 64

For each worker count W, one gateway on the same engine runs the same episodes (one call each,
``max_tokens_per_call`` tokens) twice, side by side in one process:

* ``inprocess``: the rollout runner's own executor with ``max_concurrency: W``; the workflow
  calls through the tuner's OpenAI SDK client (in-process transport, no socket);
* ``remote``: W worker processes (benchmarks/remote_client.py: ajet-client + the openai SDK over
  loopback HTTP) claim the episodes from the episode API, each episode building its own
  ``openai.OpenAI`` as the docs' example does;
* ``remote-shared``: the same with one ``openai.OpenAI`` per worker process
  (``with_options(api_key=...)`` per episode): what the API itself costs.

Each call's wall time is measured where it is made; the gateway records the time it spent in the
pipeline (rendering, engine, parsing: ``LlmCall.latency``). Their difference is the path's own
cost per call (transport, HTTP, queueing for the event loop); remote minus inprocess is what the
remote path adds. Episodes per minute count from the first episode queued to the last finished.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ajet_core import Workflow, WorkflowOutput
from ajet_core.config.models import AjetConfig
from ajet_core.gateway import Gateway
from ajet_core.rollout.isolation import InProcessExecutor
from ajet_core.rollout.remote.api import episode_routes
from ajet_core.rollout.remote.executor import RemoteExecutor
from ajet_core.rollout.remote.queue import EpisodeQueue
from ajet_core.rollout.remote.service import server_url
from ajet_core.rollout.runner import RolloutRunner, RolloutSettings
from ajet_core.schema import Task

REPO = Path(__file__).resolve().parents[1]
CLIENT = REPO / "benchmarks" / "remote_client.py"


class TimedCall(Workflow):
    async def execute(self, task, tuner):
        client = tuner.as_raw_openai_sdk_client()
        started = time.perf_counter()
        await client.chat.completions.create(
            messages=[{"role": "user", "content": task.task.main_query}]
        )
        return WorkflowOutput(reward=0.0, metadata={"call_seconds": time.perf_counter() - started})


def tasks(count: int) -> list[Task]:
    return [Task(task_id=f"t{i}", main_query=f"What is {i} + {i + 1}?") for i in range(count)]


def runner(gateway, workers: int, make_executor=None) -> RolloutRunner:
    settings = RolloutSettings(
        num_repeat=1,
        max_concurrency=max(workers, 16),
        episode_timeout=600,
        engine_error_retries=0,
        seed=1,
        trainable_targets=None,
    )
    return RolloutRunner(
        gateway=gateway,
        make_workflow=TimedCall,
        judger=None,
        tracker=None,
        settings=settings,
        make_executor=make_executor or (lambda: InProcessExecutor(TimedCall)),
    )


def summarise(mode: str, workers: int, records, seconds: float) -> dict:
    failed = [r for r in records if not r.ok]
    if failed:
        raise SystemExit(f"{mode}: {len(failed)} episodes failed, e.g. {failed[0].error}")
    added = [r.metadata["call_seconds"] - r.calls[0].latency for r in records]
    return {
        "mode": mode,
        "workers": workers,
        "episodes_per_min": 60 * len(records) / seconds,
        "added_ms_p50": 1000 * statistics.median(added),
        "added_ms_p90": 1000 * statistics.quantiles(added, n=10)[-1],
    }


async def inprocess(engine, config, workers: int, count: int) -> dict:
    gateway = Gateway(engine, config, mode="train")
    run = runner(gateway, workers)
    run.settings.max_concurrency = workers
    started = time.perf_counter()
    records = await run.run_tasks(tasks(count), step=1)
    return summarise("inprocess", workers, records, time.perf_counter() - started)


async def remote(engine, config, workers: int, count: int, shared: bool) -> dict:
    gateway = Gateway(engine, config, mode="train")
    token = secrets.token_urlsafe(16)
    queue = EpisodeQueue(token, lease_seconds=30)
    gateway.add_routes(episode_routes(queue))
    url = server_url(await gateway.start_http())
    clients = [
        subprocess.Popen(
            [sys.executable, str(CLIENT), url, token, f"w{i}"]
            + (["--shared-client"] if shared else [])
        )
        for i in range(workers)
    ]
    try:
        run = runner(
            gateway,
            workers,
            lambda: RemoteExecutor(queue, mode="train", episode_timeout=600),
        )
        # Warm-up, off the clock: every client has started (imports) and served an episode.
        await run.run_tasks(tasks(2 * workers), step=0)
        started = time.perf_counter()
        records = await run.run_tasks(tasks(count), step=1)
        seconds = time.perf_counter() - started
    finally:
        queue.close()
        await asyncio.sleep(0.5)
        for client in clients:
            client.kill()
            client.wait()
        await gateway.stop_http()
    return summarise("remote-shared" if shared else "remote", workers, records, seconds)


async def main_async(args: argparse.Namespace) -> list[dict]:
    from ajet_backbone_debug.engine import TransformersEngine

    engine = TransformersEngine.from_path(str(args.model), device="cpu")
    config = AjetConfig.model_validate({"rollout": {"max_tokens_per_call": args.max_tokens}})
    rows = []
    try:
        # Warm-up: the engine's first batches, outside every measurement.
        await inprocess(engine, config, 4, 8)
        for workers in args.workers:
            rows.append(await inprocess(engine, config, workers, args.episodes))
            rows.append(await remote(engine, config, workers, args.episodes, shared=False))
            rows.append(await remote(engine, config, workers, args.episodes, shared=True))
    finally:
        engine.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tiny = sorted((REPO / ".cache").glob("tiny-*"))
    parser.add_argument("--model", type=Path, default=tiny[0] if tiny else None)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args()
    if args.model is None:
        raise SystemExit("no tiny model under .cache; run scripts/setup_models.sh or pass --model")
    rows = asyncio.run(main_async(args))
    print(f"{'mode':<14}{'workers':>8}{'episodes/min':>14}{'added ms p50':>14}{'p90':>8}")
    for row in rows:
        print(
            f"{row['mode']:<14}{row['workers']:>8}{row['episodes_per_min']:>14.1f}"
            f"{row['added_ms_p50']:>14.1f}{row['added_ms_p90']:>8.1f}"
        )
    by = {(r["mode"], r["workers"]): r for r in rows}
    for workers in args.workers:
        inp = by[("inprocess", workers)]
        for mode in ("remote", "remote-shared"):
            rem = by[(mode, workers)]
            print(
                f"{workers} worker(s), {mode}: episodes per minute "
                f"{rem['episodes_per_min'] / inp['episodes_per_min']:.2f}x in-process; the path "
                f"adds {rem['added_ms_p50'] - inp['added_ms_p50']:.1f} ms per call (median)"
            )


if __name__ == "__main__":
    main()
