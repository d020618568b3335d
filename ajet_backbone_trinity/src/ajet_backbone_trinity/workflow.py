"""An AgentJet episode group as a Trinity-RFT ``Workflow``.

Trinity resolves a taskset's ``default_workflow_type`` through its workflow registry, which
imports a dotted class path on first use — so naming
``ajet_backbone_trinity.workflow.AjetEpisodeWorkflow`` is all the registration its Ray workers
need (nothing is copied into trinity's plugin folder).

The workflow is *repeatable*: trinity hands it a task and ``repeat_times`` once, and it runs the
whole GRPO group itself (``RolloutRunner``), because the group's advantages are the core's,
computed over the group's episodes before any experience leaves. It is asynchronous
(``is_async``, ``run_async``): trinity 0.6 awaits ``run_async`` on the runner actor's event loop,
where the gateway serves the user's workflow in-process.
"""

from __future__ import annotations

from typing import Any

from trinity.common.workflows.workflow import Task as TrinityTask
from trinity.common.workflows.workflow import Workflow as TrinityWorkflow

from ajet_backbone_trinity.experiences import episodes_to_experiences
from ajet_backbone_trinity.runtime import runtime_for
from ajet_backbone_trinity.tasks import task_from_row


class AjetEpisodeWorkflow(TrinityWorkflow):
    can_reset = True
    can_repeat = True
    is_async = True

    def __init__(
        self, *, task: TrinityTask, model: Any, auxiliary_models: list | None = None
    ) -> None:
        super().__init__(task=task, model=model, auxiliary_models=auxiliary_models)
        self.repeat_times = task.repeat_times or 1
        self.reset(task)

    def reset(self, task: TrinityTask) -> None:
        self.task = task
        self.ajet_task = task_from_row(task.raw_task)

    def set_repeat_times(self, repeat_times: int, run_id_base: int) -> None:
        self.repeat_times = repeat_times
        self.run_id_base = run_id_base

    @property
    def step(self) -> int:
        # The explorer step trinity assigned the task to ("7", or "7/<taskset>" for evaluation);
        # part of our group key and of where the episode's record goes.
        try:
            return int(str(self.task.batch_id).split("/")[0])
        except ValueError:
            return 0

    async def run_async(self) -> list[Any]:
        runtime = runtime_for(self.task.workflow_args, self.model)
        group = await runtime.run_group(
            self.ajet_task, step=self.step, num_repeat=self.repeat_times
        )
        # Kept for inspection (debugging, tests): the episodes behind the experiences returned.
        self.last_group = group
        experiences = episodes_to_experiences(
            group.episodes,
            kept_ids={e.episode_id for e in group.kept},
            placeholder_token_id=runtime.placeholder_token_id,
            run_id_base=self.run_id_base,
            mode=runtime.mode,
        )
        # Never fewer experiences than episodes: a failed episode sends a zero-weight placeholder,
        # because trinity's trainer waits for exactly train_batch_size experiences per step and
        # ends the run quietly when they never come (see experiences.py).
        return experiences
