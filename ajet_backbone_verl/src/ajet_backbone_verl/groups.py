"""Wait for a task's whole group of episodes before computing the core's advantages.

verl runs each episode of a group as its own agent-loop call (``rollout.n`` sessions of one
prompt ``uid``), all on the same worker's event loop. The core's GRPO needs the whole group, so
each episode, once finished, joins its group here; the last one to arrive computes the
advantages for all of them (``assign_grpo_advantages``) and wakes the others. A group that never
fills (a worker lost an episode) is settled with what arrived after ``timeout``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ajet_core.schema import EpisodeRecord

log = logging.getLogger("ajet.verl")


@dataclass
class _Group:
    done: asyncio.Event = field(default_factory=asyncio.Event)
    members: list[EpisodeRecord] = field(default_factory=list)
    draws: int = 0


class EpisodeGroups:
    def __init__(self) -> None:
        self._open: dict[str, _Group] = {}

    def next_draw(self, key: str) -> int:
        """A draw index for an episode of ``key`` when verl gives none (one per call)."""
        group = self._open.setdefault(key, _Group())
        group.draws += 1
        return group.draws - 1

    async def settle(
        self,
        key: str,
        record: EpisodeRecord,
        *,
        expected: int,
        timeout: float,
        assign: Callable[[list[EpisodeRecord]], None],
    ) -> list[EpisodeRecord]:
        """Add ``record`` to its group; return the group once ``assign`` has run over it."""
        group = self._open.setdefault(key, _Group())
        group.members.append(record)
        if len(group.members) >= expected:
            self._close(key, group, assign)
            return group.members
        # asyncio.wait returns on timeout instead of raising: asyncio.wait_for's exception is
        # asyncio.TimeoutError, which before Python 3.11 is not the builtin TimeoutError.
        waiter = asyncio.ensure_future(group.done.wait())
        await asyncio.wait({waiter}, timeout=timeout)
        if not group.done.is_set():
            waiter.cancel()
            log.warning(
                "group %s settled with %d of %d episodes after %.0f s",
                key,
                len(group.members),
                expected,
                timeout,
            )
            self._close(key, group, assign)
        return group.members

    def _close(
        self, key: str, group: _Group, assign: Callable[[list[EpisodeRecord]], None]
    ) -> None:
        self._open.pop(key, None)
        try:
            assign(group.members)
        finally:
            group.done.set()
