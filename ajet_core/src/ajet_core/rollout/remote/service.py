"""``rollout.isolation: remote`` for one run: the queue, its HTTP API on the training gateway, the
run token, the files workers read, and the run's own local workers.

The run token comes from the environment variable ``rollout.remote.token_env`` when set (so
workers can be configured before the run starts), else it is made here. Either way it is written
to ``<run folder>/remote/token`` (mode 0600) beside ``remote/url``; it is never logged, printed or
put in a record.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ajet_core.config.models import AjetConfig
from ajet_core.rollout.remote.api import episode_routes
from ajet_core.rollout.remote.executor import LocalWorkers, RemoteExecutor
from ajet_core.rollout.remote.queue import EpisodeQueue
from ajet_core.workflow import Workflow

log = logging.getLogger(__name__)

TOKEN_FILE = "token"
URL_FILE = "url"


def server_url(base_url: str) -> str:
    """The server root workers are given (the gateway's ``/v1`` base URL without ``/v1``)."""
    return base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url


class RemoteEpisodes:
    def __init__(
        self, config: AjetConfig, run_dir: Path, make_workflow: Callable[[], Workflow] | None
    ) -> None:
        settings = config.rollout.remote
        self.config = config
        self.folder = run_dir / "remote"
        self.token = os.environ.get(settings.token_env) or secrets.token_urlsafe(32)
        self.queue = EpisodeQueue(self.token, lease_seconds=settings.lease_seconds)
        self.local = (
            LocalWorkers(self.queue, make_workflow, settings.local_workers)
            if settings.local_workers and make_workflow is not None
            else None
        )
        self.url: str | None = None

    def serve(self, gateway: Any) -> str:
        """Serve the episode API on ``gateway``'s HTTP server; returns the URL workers use."""
        gateway.add_routes(episode_routes(self.queue))
        self.url = server_url(gateway.ensure_http())
        self.folder.mkdir(parents=True, exist_ok=True)
        token_path = self.folder / TOKEN_FILE
        descriptor = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(self.token + "\n")
        os.chmod(token_path, 0o600)  # an existing file keeps its mode through O_CREAT
        (self.folder / URL_FILE).write_text(self.url + "\n")
        print(
            f"remote workers: claim episodes at {self.url} with the run token in {token_path} "
            f"(ajet worker --url {self.url} --token-file {token_path} --workflow FILE.py:Class)",
            flush=True,
        )
        return self.url

    def executor_factory(self, mode: str) -> Callable[[], RemoteExecutor]:
        timeout = self.config.rollout.episode_timeout
        return lambda: RemoteExecutor(self.queue, mode=mode, episode_timeout=timeout)

    def start(self) -> None:
        if self.local is not None:
            self.local.start()

    async def close(self, *, finished: bool) -> None:
        self.queue.close(finished=finished)
        if self.local is not None:
            await self.local.close()
