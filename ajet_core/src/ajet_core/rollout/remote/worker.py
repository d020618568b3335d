"""``ajet worker``: any existing :class:`Workflow`, unchanged, on episodes claimed from a run.

Each claimed episode gets a real :class:`AjetTuner` whose clients call the run's gateway at the
episode's ``base_url``; keys for further agents come from the episode API, so multi-agent
workflows and ``trainable_targets`` work as they do inside ``ajet train``. The workflow's
``WorkflowOutput`` becomes the episode's finish; anything else, or an exception, aborts it with
the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ajet_client import Episode, EpisodeApiError, EpisodeClient, RunFinished
from ajet_core.config.models import AjetConfig
from ajet_core.gateway.episode import EpisodeSession
from ajet_core.rollout.isolation import workflow_failure
from ajet_core.schema import Task
from ajet_core.tuner import AjetTuner
from ajet_core.workflow import Workflow, WorkflowOutput, WorkflowTask

log = logging.getLogger(__name__)

CLAIM_WAIT_SECONDS = 20.0


class ClaimedEpisodeGateway:
    """What :class:`AjetTuner` needs from a gateway, for an episode claimed over HTTP."""

    def __init__(self, episode: Episode) -> None:
        self.episode = episode
        self.base_url = episode.base_url
        self.model_name = episode.model
        # The run's config stays on the run's side; AgentJet-style workflows that read
        # tuner.config see the defaults here.
        self.config = AjetConfig()

    def ensure_http(self) -> str:
        return self.base_url

    def issue_key(
        self,
        session: Any,
        agent_name: str = "default",
        target_tag: str | None = None,
        debug_model: str | None = None,
    ) -> str:
        if agent_name == "default" and target_tag in (None, "default") and debug_model is None:
            return self.episode.api_key
        return self.episode.key(agent_name, target_tag, debug_model)


@dataclass
class WorkerCounts:
    finished: int = 0
    aborted: int = 0
    lost: int = 0


async def run_worker(
    client: EpisodeClient,
    make_workflow: Callable[[], Workflow],
    *,
    concurrency: int = 1,
    max_episodes: int | None = None,
) -> WorkerCounts:
    """Claim and run episodes on ``concurrency`` slots until the run finishes (or
    ``max_episodes`` were claimed)."""
    counts = WorkerCounts()
    claimed = 0

    async def slot() -> None:
        nonlocal claimed
        while max_episodes is None or claimed < max_episodes:
            try:
                episode = await asyncio.to_thread(client.claim, CLAIM_WAIT_SECONDS)
            except RunFinished:
                return
            if episode is None:
                continue
            claimed += 1
            await run_episode(episode, make_workflow, counts)

    await asyncio.gather(*(slot() for _ in range(concurrency)))
    return counts


async def run_episode(
    episode: Episode, make_workflow: Callable[[], Workflow], counts: WorkerCounts
) -> None:
    session = EpisodeSession(episode.episode_id, episode.trainable_targets)
    tuner = AjetTuner(ClaimedEpisodeGateway(episode), session)  # type: ignore[arg-type]
    workflow_task = WorkflowTask(
        task_id=episode.task.get("task_id", ""),
        env_type=episode.task.get("env_type", ""),
        task_thread_index=episode.claim["task_thread_index"],
        task_batch_index=episode.claim["task_batch_index"],
        episode_uuid=episode.episode_id,
        task=Task.model_validate(episode.task),
    )
    try:
        # Leaving the block with an exception aborts the episode with its text.
        with episode:
            output = await make_workflow().execute(workflow_task, tuner)
            if not isinstance(output, WorkflowOutput):
                raise TypeError(
                    f"workflow returned {type(output).__name__} ({output!r:.80}); return "
                    "ajet_core.WorkflowOutput(reward=..., metadata=...)"
                )
            await asyncio.to_thread(
                episode.finish,
                output.reward,
                is_success=output.is_success,
                metadata=output.metadata,
                log_metrics=output.log_metrics,
            )
    except EpisodeApiError as exc:
        log.warning("episode %s: the run refused the report: %s", episode.episode_id, exc)
        counts.lost += 1
    except asyncio.CancelledError:
        raise  # the worker is stopping; the episode was aborted on the way out
    except BaseException as exc:  # noqa: BLE001 - sys.exit included: the episode failed, not the worker
        log.warning("episode %s aborted: %s", episode.episode_id, workflow_failure(exc))
        counts.aborted += 1
    else:
        counts.finished += 1
