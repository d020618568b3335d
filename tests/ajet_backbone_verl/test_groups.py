"""A group that never fills is settled with what arrived once its timeout passes — whatever the
Python version's asyncio raises on a timeout (before 3.11, ``asyncio.TimeoutError`` is not the
builtin ``TimeoutError`` the old code caught)."""

from __future__ import annotations

import asyncio

from ajet_backbone_verl.groups import EpisodeGroups

from ajet_backbone_verl import groups as groups_module
from ajet_core.schema import EpisodeRecord, Task


def settle_alone(timeout: float) -> list[list[str]]:
    assigned: list[list[str]] = []

    async def main() -> list[EpisodeRecord]:
        return await EpisodeGroups().settle(
            "g",
            EpisodeRecord(episode_id="only", task=Task()),
            expected=4,
            timeout=timeout,
            assign=lambda members: assigned.append([m.episode_id for m in members]),
        )

    members = asyncio.run(main())
    assert [m.episode_id for m in members] == ["only"]
    return assigned


def test_a_group_that_never_fills_settles_with_what_arrived():
    assert settle_alone(timeout=0.01) == [["only"]]


def test_the_timeout_does_not_depend_on_which_exception_asyncio_raises(monkeypatch):
    class Python310AsyncioTimeout(Exception):  # asyncio.TimeoutError before 3.11
        pass

    async def wait_for_as_on_python_310(awaitable, timeout):
        awaitable.close()
        raise Python310AsyncioTimeout

    monkeypatch.setattr(groups_module.asyncio, "wait_for", wait_for_as_on_python_310)
    monkeypatch.setattr(groups_module.asyncio, "TimeoutError", Python310AsyncioTimeout)
    assert settle_alone(timeout=0.01) == [["only"]]


def test_a_full_group_is_assigned_once_and_wakes_every_member():
    assigned: list[int] = []

    async def main() -> list[int]:
        groups = EpisodeGroups()

        async def member(i: int) -> int:
            members = await groups.settle(
                "g",
                EpisodeRecord(episode_id=str(i), task=Task()),
                expected=3,
                timeout=600,
                assign=lambda members: assigned.append(len(members)),
            )
            return len(members)

        return await asyncio.gather(*(member(i) for i in range(3)))

    assert asyncio.run(main()) == [3, 3, 3]
    assert assigned == [3]
