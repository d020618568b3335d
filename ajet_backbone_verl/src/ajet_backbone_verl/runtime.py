"""What an agent-loop call needs from the ajet side, built once per verl worker process.

verl instantiates an agent loop per episode; loading the config, the plugins, the judger and
the tracker that often would dominate the episode. :class:`AjetRuntime` holds them per process,
keyed by the run's ajet config file (written by the backbone next to the verl config).
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

from ajet_backbone_verl.engine import VerlServerEngine
from ajet_backbone_verl.groups import EpisodeGroups
from ajet_core.config.loader import load_config
from ajet_core.config.plugin_sections import validate_plugin_sections
from ajet_core.gateway.core import Gateway
from ajet_core.plugins.manager import get_plugin_manager
from ajet_core.rollout.runner import EVAL_MODE, RolloutRunner
from ajet_core.schema import EpisodeRecord
from ajet_core.training import components
from ajet_core.training.episode_spool import append_episodes


def spool_folder(run_dir: Path) -> Path:
    """Where workers spool finished episodes for the run's metrics bridge."""
    return run_dir / "verl" / "episodes"


# Finished episodes kept per worker for inspection (tests, debugging a worker).
RECENT_EPISODES = 1024


class AjetRuntime:
    _by_config: ClassVar[dict[str, AjetRuntime]] = {}

    @classmethod
    def for_config(cls, config_path: str, *, working_dir: str | None = None) -> AjetRuntime:
        key = str(Path(config_path).resolve())
        if key not in cls._by_config:
            cls._by_config[key] = cls(key, working_dir=working_dir)
        return cls._by_config[key]

    def __init__(self, config_path: str, *, working_dir: str | None = None) -> None:
        if working_dir and Path.cwd() != Path(working_dir):
            # Relative paths in the config (data files, 'my_agent.py:Agent') mean what they meant
            # where `ajet train` was launched; Ray may start this worker elsewhere.
            os.chdir(working_dir)
        loaded = load_config(config_path, [])
        self.config = loaded.config
        self.run_dir = Path(config_path).parent
        self.recent_episodes: deque[EpisodeRecord] = deque(maxlen=RECENT_EPISODES)
        self.plugins = get_plugin_manager()
        resolved = validate_plugin_sections(self.config, self.plugins)
        self.parts = components.EpisodeParts.build(self.config, resolved, self.plugins)
        self.reader = components.instantiate(resolved.task_reader)
        self.groups = EpisodeGroups()
        self.episode_slots = asyncio.Semaphore(self.config.rollout.max_concurrency)
        self._runners: dict[tuple[str, int], RolloutRunner] = {}

    def log_episode(self, record: EpisodeRecord, mode: str) -> None:
        """Spool the finished episode for the ajet process (:mod:`.metrics_bridge`)."""
        self.recent_episodes.append(record)
        append_episodes(spool_folder(self.run_dir), mode, record.step, [record])

    def runner(
        self,
        mode: str,
        server_client: Any,
        tokenizer: Any,
        max_model_len: int,
        rollout_engine: str = "vllm",
    ) -> RolloutRunner:
        """The rollout runner of one mode on this worker's server client (one gateway each)."""
        key = (mode, id(server_client))
        if key not in self._runners:
            engine = VerlServerEngine(server_client, tokenizer, max_model_len, rollout_engine)
            gateway = Gateway(
                engine,
                self.config,
                mode="eval" if mode == EVAL_MODE else "train",
                plugins=self.plugins,
            )
            self._runners[key] = self.parts.runner(gateway, num_repeat=1, reader=self.reader)
        return self._runners[key]
