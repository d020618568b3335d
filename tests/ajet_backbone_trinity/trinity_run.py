"""Running AgentJet tasks through trinity's own reader and WorkflowRunner, for the seam tests.

The chain is trinity's: the translated config passes trinity's ``load_config`` and
``check_and_update``; trinity's file reader turns our materialised taskset into trinity ``Task``s;
trinity's ``WorkflowRunner`` builds our workflow around trinity's ``ModelWrapper``, runs it, stamps
the experience ids and serialises the experiences. Ray's actor lookup (``ray.get_actor``) returns
the tiny model behind trinity's ``InferenceModel`` interface (see standins.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from .helpers import REPO
from .standins import InProcessActor, make_rollout_model_class, vllm_import_stand_in

with vllm_import_stand_in():  # trinity's model wrapper and runner import vLLM at module level
    import trinity.common.models.allocator as trinity_allocator
    from trinity.explorer.workflow_runner import WorkflowRunner

from ajet_backbone_trinity.tasks import write_taskset
from ajet_backbone_trinity.translation import to_yaml, translate
from trinity.buffer import get_buffer_reader
from trinity.common.config import load_config
from trinity.common.experience import Experience

from ajet_core.config.loader import validate_config
from ajet_core.config.plugin_sections import validate_plugin_sections
from ajet_core.plugins.manager import get_plugin_manager
from ajet_core.training import components
from ajet_core.training.run_dir import write_run_files

STEP = 3  # the explorer step trinity's scheduler would stamp on the task


def trinity_config_for(tmp_path: Path, ajet_config: dict):
    """Our config -> materialised taskset -> translated YAML -> trinity's loader and validation."""
    config = validate_config(ajet_config, base_dir=REPO)
    resolved = validate_plugin_sections(config, get_plugin_manager())
    reader = components.instantiate(resolved["task_reader"])
    tasks_dir = tmp_path / "tasks"
    write_taskset(reader, "train", tasks_dir)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_run_files(run_dir, config)  # what the launch's run folder holds
    translation = translate(
        config, resolved["backbone"].options, run_dir=run_dir, tasks_dir=tasks_dir
    )
    path = tmp_path / "trinity.yaml"
    path.write_text(to_yaml(translation))
    trinity_config = load_config(str(path))
    trinity_config.check_and_update()
    return config, trinity_config


def run_tasks(
    trinity_config, rollout_engine, *, step: int = STEP, batches: int = 1, per_batch: int = 0
):
    """``batches`` explorer steps of tasks from trinity's taskset reader (the first ``per_batch``
    of each, 0: all), each task run by a WorkflowRunner as trinity's scheduler runs it; returns
    [(task, runner, status, payload)] per step and the rollout model (whose ``requests`` record
    what it was asked)."""
    actor = make_rollout_model_class()(trinity_config.explorer.rollout_model, rollout_engine)

    async def run():
        reader = get_buffer_reader(trinity_config.buffer.explorer_input.tasksets[0])
        steps = []
        for offset in range(batches):
            # One weight sync per step, as in sync mode: step n samples from version n - 1.
            actor.model_version = offset
            done = []
            tasks = await reader.read()
            for index, task in enumerate(tasks[:per_batch] if per_batch else tasks):
                task = replace(task, batch_id=step + offset, task_id=index)  # as the scheduler
                runner = WorkflowRunner(trinity_config, rollout_model_id=0)
                status, payload = await runner.run_task(
                    task, batch_id=str(step + offset), repeat_times=task.repeat_times
                )
                done.append((task, runner, status, payload))
            steps.append(done)
        return steps

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            trinity_allocator.ray, "get_actor", lambda name, namespace=None: InProcessActor(actor)
        )
        steps = asyncio.run(run())
    return steps, actor


def run_one_task(trinity_config, rollout_engine):
    """The first task of the taskset through trinity's WorkflowRunner."""
    steps, actor = run_tasks(trinity_config, rollout_engine, per_batch=1)
    task, runner, status, payload = steps[0][0]
    experiences = Experience.deserialize_many(payload) if payload else []
    return task, runner, status, experiences, actor


def episode_requests(actor) -> list[dict]:
    """What the episodes asked the rollout model, without the rollout runner's one warm-up
    generation per engine (``RolloutRunner.warm_up``, a single token before the first episode)."""
    warm_up, *requests = actor.requests
    assert warm_up["max_tokens"] == 1, warm_up
    return requests
