"""AgentJet's HTTP environment-service protocol, written down once for server and client.

Every call is ``POST <url>/<endpoint>`` with one JSON body::

    {"env_type": str, "task_id": str|null, "instance_id": str|null, "messages": {}, "params": {}}

=================  ==========================================  ====================================
endpoint           uses                                        answers
=================  ==========================================  ====================================
get_env_profile    env_type, params.split                      {"data": [task_id, ...]}
create             env_type, task_id, instance_id, params      {"data": {"state": [message, ...],
                                                                         "reward": 0,
                                                                         "is_terminated": false,
                                                                         "info": {...}}}
step               instance_id, messages = the action message  {"data": {"state": [message],
                   ({"role": "assistant", "content": "..."})             "reward": r,
                                                                         "is_terminated": bool,
                                                                         "info": {...}}}
evaluate           instance_id, params                         {"data": score}
release            instance_id                                 {"success": bool}
get_info           instance_id                                 {"data": {...}}
=================  ==========================================  ====================================

Errors answer with a 4xx/5xx status and ``{"error": "..."}``.

Our reference server adds one thing, invisible to AgentJet's clients: ``create`` answers an
``info.instance_token``, and every later call on that instance must send it in the
``X-Ajet-Instance-Token`` header (our client does), so knowing an instance id is not enough to
step, read or release someone else's instance.
"""

from __future__ import annotations

from typing import Any

TOKEN_HEADER = "X-Ajet-Instance-Token"

ENDPOINTS = ("get_env_profile", "create", "step", "evaluate", "release", "get_info")


def request_body(
    *,
    env_type: str | None = None,
    task_id: str | None = None,
    instance_id: str | None = None,
    messages: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "env_type": env_type,
        "task_id": task_id,
        "instance_id": instance_id,
        "messages": messages or {},
        "params": params or {},
    }


def message_text(message: Any) -> str:
    """The text of a message whose content is a string or a list of ``{"type": "text"}`` parts."""
    content = message.get("content", "") if isinstance(message, dict) else message
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)
