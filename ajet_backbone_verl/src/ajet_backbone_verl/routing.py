"""One verl request id per episode, so verl keeps an episode's conversation on one server.

verl's router sends calls with the same request id to the same rollout server (sticky sessions,
verl/workers/rollout/router.py:179-197), where a multi-turn conversation's earlier turns are in
the prefix cache; verl's own ``ToolAgentLoop`` keeps one id per trajectory. Our engine sees only
token ids, so the id travels beside the call in a context variable that the ``ajet`` agent loop
sets for its episode. It follows the workflow's calls into the gateway and onto the gateway's own
loop (asyncio copies the caller's context into the task it starts there). One id per episode, not
per agent: the gateway's per-request hooks are not a stable seam yet; every agent of an episode
then shares a server, and vLLM's prefix cache (by content) still serves each agent's turns.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar

request_key: ContextVar[str | None] = ContextVar("ajet_verl_request_key", default=None)


def current_request_id() -> str:
    """The sticky id of the running episode, or a fresh one outside any."""
    return request_key.get() or uuid.uuid4().hex
