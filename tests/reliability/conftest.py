"""Fixtures of the fault-injection suite: the tiny model's engine and a runner per isolation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ajet_core.config.models import AjetConfig
from ajet_core.gateway.core import Gateway
from ajet_core.rollout.isolation import executor_for
from ajet_core.rollout.runner import RolloutRunner, RolloutSettings
from ajet_core.schema import Task
from ajet_core.tracking.timeline_merge import TimelineMergeTracker

HERE = Path(__file__).resolve().parent
MISBEHAVING = HERE / "misbehaving.py"


@pytest.fixture(scope="session")
def engine(tiny_model_dir):
    from ajet_backbone_debug.engine import TransformersEngine

    engine = TransformersEngine.from_path(str(tiny_model_dir), max_model_len=1024, seed=0)
    yield engine
    engine.close()


def workflow_class(name: str):
    from ajet_core.importing import import_object

    return import_object(f"{MISBEHAVING}:{name}")


def run_episodes(
    engine,
    workflow: str,
    *,
    isolation: str,
    judger=None,
    timeout: float = 120.0,
    tasks: list[Task] | None = None,
    repeats: int = 1,
):
    """Run ``tasks`` (default one) with the named workflow of misbehaving.py; return records."""
    config = AjetConfig.model_validate(
        {
            "workflow": {"name": f"{MISBEHAVING}:{workflow}"},
            "rollout": {"max_tokens_per_call": 8, "num_repeat": repeats, "isolation": isolation},
        }
    )

    async def go():
        gateway = Gateway(engine, config, mode="train")
        make_workflow = workflow_class(workflow)
        runner = RolloutRunner(
            gateway=gateway,
            make_workflow=make_workflow,
            judger=judger,
            tracker=TimelineMergeTracker.from_config(config),
            settings=RolloutSettings(
                num_repeat=repeats,
                max_concurrency=4,
                episode_timeout=timeout,
                engine_error_retries=0,
                seed=7,
                trainable_targets=None,
            ),
            make_executor=executor_for(config, make_workflow, None),
        )
        try:
            return await runner.run_tasks(tasks or [Task(task_id="t", main_query="Hi")], step=1)
        finally:
            await gateway.stop_http()

    return asyncio.run(go())
