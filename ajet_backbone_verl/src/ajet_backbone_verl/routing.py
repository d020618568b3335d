"""One verl request id per episode and agent, so verl keeps each conversation on one server.

verl's router sends calls with the same request id to the same rollout server (sticky sessions,
verl/workers/rollout/router.py:179-197), where a multi-turn conversation's earlier turns are in
the prefix cache; verl's own ``ToolAgentLoop`` keeps one id per trajectory. Our engine sees only
token ids, so the id travels beside the call in a context variable that the ``ajet`` agent loop
sets for its episode. It follows the workflow's calls into the gateway and onto the gateway's own
loop (asyncio copies the caller's context into the task it starts there). The gateway names the
agent of each engine call (``ajet_core.engine.call_origin``): each agent's conversation is its own
prefix, so each gets its own id (and so its own sticky server), as verl's ``ToolAgentLoop`` keeps
one id per trajectory.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar

from ajet_core.engine import call_origin

request_key: ContextVar[str | None] = ContextVar("ajet_verl_request_key", default=None)


def current_request_id() -> str:
    """The sticky id of the running episode's calling agent, or a fresh one outside any."""
    episode = request_key.get()
    if episode is None:
        return uuid.uuid4().hex
    origin = call_origin.get()
    return episode if origin is None else f"{episode}:{origin.agent}"
