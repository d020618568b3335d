"""Everything one trinity worker needs to run AgentJet episodes, built once from the run config.

Trinity's workflow runners are Ray actors on other machines: they get the AgentJet config as
plain data (the taskset's ``workflow_args``) and rebuild the plugins here — task reader (for
per-episode environments), judger, tracker, the user's workflow class — plus a gateway whose
engine is trinity's rollout model. One runtime per (config, mode, model wrapper, event loop):
a runner actor reuses it for every task it is given.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ajet_backbone_trinity.engine import TrinityModelEngine
from ajet_backbone_trinity.experiences import PLACEHOLDER_COUNT, needs_placeholder
from ajet_backbone_trinity.translation import BASE_DIR_ARG, CONFIG_ARG, MODE_ARG, RUN_DIR_ARG
from ajet_core.config.loader import validate_config
from ajet_core.config.models import AjetConfig
from ajet_core.config.plugin_sections import validate_plugin_sections
from ajet_core.plugins.manager import PluginManager, get_plugin_manager
from ajet_core.readers import TaskReader
from ajet_core.rollout.advantages import GroupStats, assign_grpo_advantages
from ajet_core.rollout.runner import EVAL_MODE, TRAIN_MODE, RolloutRunner
from ajet_core.schema import EpisodeRecord, Task
from ajet_core.training import components
from ajet_core.training.episode_spool import append_episodes

# Where workers append finished episodes for the run's monitor (:mod:`.bridge`) to log.
EPISODES_DIR = "trinity_episodes"


@dataclass
class GroupResult:
    """One task's draws at one step: the episodes, the ones the core kept, the group stats."""

    episodes: list[EpisodeRecord]
    kept: list[EpisodeRecord]
    stats: GroupStats
    extra: dict[str, Any] = field(default_factory=dict)


class EpisodeRuntime:
    def __init__(
        self,
        config: AjetConfig,
        model: Any,
        *,
        mode: str = TRAIN_MODE,
        plugins: PluginManager | None = None,
        run_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.mode = mode
        self.run_dir = run_dir
        self.plugins = plugins or get_plugin_manager()
        resolved = validate_plugin_sections(
            config, self.plugins, sections=("task_reader", "judger", "tracker")
        )
        # The worker needs the reader only for per-episode environments (env-service readers);
        # others would just reopen their files, which may not exist on this machine.
        reader_class = resolved.task_reader.implementation
        self.reader = (
            components.instantiate(resolved.task_reader)
            if getattr(reader_class, "episode_env", None) is not TaskReader.episode_env
            else TaskReader()
        )
        self.parts = components.EpisodeParts.build(config, resolved, self.plugins)
        self.engine = TrinityModelEngine.from_model_wrapper(
            model, max_model_len=config.model.max_model_len
        )
        from ajet_core.gateway.core import Gateway

        self.gateway = Gateway(
            self.engine, config, mode="eval" if mode == EVAL_MODE else "train", plugins=self.plugins
        )

    @property
    def placeholder_token_id(self) -> int:
        """The token a placeholder experience is made of (never trained: its mask is 0)."""
        tokenizer = self.engine.tokenizer
        for token_id in (tokenizer.eos_token_id, tokenizer.pad_token_id):
            if isinstance(token_id, int):
                return token_id
        return 0

    def runner(self, num_repeat: int) -> RolloutRunner:
        # Eval samples are built too: trinity needs an Experience to carry each episode's
        # metrics, and drops eval experiences before training.
        return self.parts.runner(
            self.gateway,
            num_repeat=num_repeat,
            reader=self.reader,
            on_episode_end=self.plugins.episode_end,
        )

    async def run_group(self, task: Task, *, step: int, num_repeat: int) -> GroupResult:
        """Run ``task`` ``num_repeat`` times and compute the core's GRPO advantages."""
        episodes = await self.runner(num_repeat).run_tasks([task], step=step, mode=self.mode)
        for episode in episodes:
            # Spooled with the episode, so the run's monitor can count the placeholders.
            episode.metadata[PLACEHOLDER_COUNT] = int(needs_placeholder(episode))
        if self.mode != TRAIN_MODE:
            self.record(episodes, step)
            return GroupResult(episodes, [], GroupStats())
        kept, stats = assign_grpo_advantages(
            episodes,
            # 'refill' asks the loop for more tasks; inside one trinity task there are none to
            # ask for, so it behaves as 'drop' (trinity keeps its batch size by over-rollout).
            equal_reward_groups="drop"
            if self.config.rollout.equal_reward_groups == "refill"
            else self.config.rollout.equal_reward_groups,
            min_valid_group_size=self.config.rollout.min_valid_group_size,
        )
        kept_ids = {e.episode_id for e in kept}
        for episode in episodes:
            episode.metadata["ajet_trained"] = episode.episode_id in kept_ids
        self.record(episodes, step)
        return GroupResult(episodes, kept, stats)

    def record(self, episodes: list[EpisodeRecord], step: int) -> None:
        """Append the group's full records for the run's monitor, which logs our metrics and
        token-level records per step (a shared run folder, as trinity's checkpoints need)."""
        if self.run_dir is None:
            return
        append_episodes(self.run_dir / EPISODES_DIR, self.mode, step, episodes)


_RUNTIMES: dict[tuple[str, str, int, int], EpisodeRuntime] = {}


def config_from_args(workflow_args: dict[str, Any]) -> AjetConfig:
    if CONFIG_ARG not in workflow_args:
        raise ValueError(
            f"the trinity taskset's workflow_args has no {CONFIG_ARG!r}; launch trinity runs "
            "through `ajet train --backbone trinity`, which writes it"
        )
    base_dir = workflow_args.get(BASE_DIR_ARG)
    return validate_config(workflow_args[CONFIG_ARG], base_dir=Path(base_dir) if base_dir else None)


def runtime_for(workflow_args: dict[str, Any], model: Any) -> EpisodeRuntime:
    """The cached runtime for this config, mode, model wrapper and event loop."""
    mode = workflow_args.get(MODE_ARG, TRAIN_MODE)
    digest = hashlib.sha256(
        json.dumps(
            [workflow_args.get(CONFIG_ARG), workflow_args.get(BASE_DIR_ARG)],
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()
    # The gateway's clients belong to one event loop; a new loop (tests, threads) gets its own.
    key = (digest, mode, id(model), id(asyncio.get_running_loop()))
    runtime = _RUNTIMES.get(key)
    if runtime is None:
        run_dir = workflow_args.get(RUN_DIR_ARG)
        runtime = _RUNTIMES[key] = EpisodeRuntime(
            config_from_args(workflow_args),
            model,
            mode=mode,
            run_dir=Path(run_dir) if run_dir else None,
        )
    return runtime
