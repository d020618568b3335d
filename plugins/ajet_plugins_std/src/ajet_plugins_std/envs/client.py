"""Client of the env-service protocol, and the per-episode handle a workflow gets as ``gym_env``.

Retries: transient failures (connection refused, 5xx, timeouts) of idempotent calls
(``get_env_profile``, ``create`` — the server restarts an existing id —, ``evaluate``,
``release``) are retried with exponential backoff. ``step`` is retried only when the request
never reached the server (connect errors): repeating a step that did arrive would move twice.
A 4xx answer is never retried; its error text is passed on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from ajet_plugins_std.envs.protocol import TOKEN_HEADER, message_text, request_body

log = logging.getLogger(__name__)

IDEMPOTENT = {"get_env_profile", "create", "evaluate", "release", "get_info"}


class EnvServiceError(RuntimeError):
    """An env-service call failed; the message names the server, the call and the reason."""


class _Transient(Exception):
    pass


def _check(url: str, endpoint: str, response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 500:
        raise _Transient(f"HTTP {response.status_code}: {response.text[:200]}")
    if response.status_code >= 400:
        try:
            reason = response.json().get("error", response.text)
        except ValueError:
            reason = response.text
        raise EnvServiceError(
            f"env service {url} refused {endpoint} (HTTP {response.status_code}): {reason}"
        )
    try:
        payload = response.json()
    except ValueError:
        raise EnvServiceError(
            f"env service {url} answered {endpoint} with non-JSON: {response.text[:200]!r}"
        ) from None
    if not isinstance(payload, dict):
        raise EnvServiceError(
            f"env service {url} answered {endpoint} with {payload!r:.200}, expected an object"
        )
    return payload


def _retryable(endpoint: str, exc: Exception) -> bool:
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return True  # never reached the server: safe for every call
    return endpoint in IDEMPOTENT and isinstance(exc, (_Transient, httpx.TransportError))


# Instance tokens from create answers, by (server, instance id), sent back on every later call
# of the instance. Per process, not per client: the reader creates an episode's instance and the
# env-service judger, with a client of its own, evaluates it.
_TOKENS: dict[tuple[str, str], str] = {}


class EnvServiceClient:
    """Sync and async calls to one env service (``base_url``)."""

    def __init__(
        self, base_url: str, *, timeout: float = 30.0, retries: int = 2, backoff: float = 0.5
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._sync: httpx.Client | None = None

    def _fail(self, endpoint: str, exc: Exception, attempts: int) -> EnvServiceError:
        return EnvServiceError(
            f"env service {self.base_url} did not answer {endpoint} after {attempts} attempt(s): "
            f"{type(exc).__name__}: {exc}; is the server running (python -m "
            "ajet_plugins_std.envs.server) and task_reader.url right?"
        )

    def _headers(self, body: dict[str, Any]) -> dict[str, str]:
        # Our reference server hands each created instance a token (protocol.TOKEN_HEADER);
        # servers that do not simply ignore the header.
        token = _TOKENS.get((self.base_url, str(body.get("instance_id"))))
        return {TOKEN_HEADER: token} if token else {}

    def _remember(self, endpoint: str, body: dict[str, Any], answer: dict[str, Any]) -> dict:
        instance_id = str(body.get("instance_id"))
        if endpoint == "create":
            data = answer.get("data")
            info = data.get("info") if isinstance(data, dict) else None
            token = info.get("instance_token") if isinstance(info, dict) else None
            if isinstance(token, str):
                _TOKENS[(self.base_url, instance_id)] = token
        elif endpoint == "release":
            _TOKENS.pop((self.base_url, instance_id), None)
        return answer

    def call(self, endpoint: str, **body: Any) -> dict[str, Any]:
        if self._sync is None:
            self._sync = httpx.Client(timeout=self.timeout)
        url = f"{self.base_url}/{endpoint}"
        for attempt in range(self.retries + 1):
            try:
                response = self._sync.post(
                    url, json=request_body(**body), headers=self._headers(body)
                )
                return self._remember(endpoint, body, _check(self.base_url, endpoint, response))
            except (httpx.TransportError, _Transient) as exc:
                if attempt == self.retries or not _retryable(endpoint, exc):
                    raise self._fail(endpoint, exc, attempt + 1) from None
                log.warning("env service %s %s failed (%s); retrying", self.base_url, endpoint, exc)
                time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    async def acall(self, endpoint: str, **body: Any) -> dict[str, Any]:
        url = f"{self.base_url}/{endpoint}"
        for attempt in range(self.retries + 1):
            try:
                # A client per call: an httpx.AsyncClient is bound to one event loop, and readers
                # and judgers are called from whichever loop runs the episode.
                async with httpx.AsyncClient(timeout=self.timeout) as client:
                    response = await client.post(
                        url, json=request_body(**body), headers=self._headers(body)
                    )
                return self._remember(endpoint, body, _check(self.base_url, endpoint, response))
            except (httpx.TransportError, _Transient) as exc:
                if attempt == self.retries or not _retryable(endpoint, exc):
                    raise self._fail(endpoint, exc, attempt + 1) from None
                log.warning("env service %s %s failed (%s); retrying", self.base_url, endpoint, exc)
                await asyncio.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    # -- the protocol's calls -----------------------------------------------------------------
    def list_task_ids(self, env_type: str, split: str) -> list[str]:
        data = self.call("get_env_profile", env_type=env_type, params={"split": split}).get("data")
        if not isinstance(data, list):
            raise EnvServiceError(
                f"env service {self.base_url}: get_env_profile gave {data!r:.200}, expected a list "
                "of task ids"
            )
        return [str(t) for t in data]

    def create(
        self, env_type: str, task_id: str, instance_id: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        data = self.call(
            "create", env_type=env_type, task_id=task_id, instance_id=instance_id, params=params
        ).get("data")
        if not isinstance(data, dict) or "state" not in data:
            raise EnvServiceError(
                f"env service {self.base_url}: create gave {data!r:.200}, expected {{'state': "
                "[...]}"
            )
        return data

    async def acreate(
        self, env_type: str, task_id: str, instance_id: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        data = (
            await self.acall(
                "create", env_type=env_type, task_id=task_id, instance_id=instance_id, params=params
            )
        ).get("data")
        if not isinstance(data, dict) or "state" not in data:
            raise EnvServiceError(
                f"env service {self.base_url}: create gave {data!r:.200}, expected {{'state': "
                "[...]}"
            )
        return data

    def step(
        self, instance_id: str, action: dict[str, Any], params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self.call("step", instance_id=instance_id, messages=action, params=params)["data"]

    async def astep(
        self, instance_id: str, action: dict[str, Any], params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return (await self.acall("step", instance_id=instance_id, messages=action, params=params))[
            "data"
        ]

    def evaluate(self, instance_id: str, params: dict[str, Any] | None = None) -> float:
        return float(self.call("evaluate", instance_id=instance_id, params=params).get("data", 0.0))

    async def aevaluate(self, instance_id: str, params: dict[str, Any] | None = None) -> float:
        data = (await self.acall("evaluate", instance_id=instance_id, params=params)).get("data")
        if not isinstance(data, (int, float)):
            raise EnvServiceError(
                f"env service {self.base_url}: evaluate gave {data!r:.200}, expected a number"
            )
        return float(data)

    async def arelease(self, instance_id: str) -> bool:
        return bool((await self.acall("release", instance_id=instance_id)).get("success", False))

    def release(self, instance_id: str) -> bool:
        return bool(self.call("release", instance_id=instance_id).get("success", False))

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None


def _observation(data: dict[str, Any]) -> str:
    state = data.get("state")
    if isinstance(state, list):
        return "\n".join(message_text(m) for m in state)
    if isinstance(state, dict):
        return message_text(state)
    return "" if state is None else str(state)


def _action(action: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(action, str):
        return {"role": "assistant", "content": action}
    return {"role": action.get("role", "assistant"), "content": message_text(action)}


class EnvInstance:
    """One environment instance for one episode: ``WorkflowTask.gym_env``.

    ``step(action)`` returns ``(observation, reward, terminated, info)`` as AgentJet's ``gym_env``
    does; ``astep`` is the same without blocking the event loop (prefer it in async workflows).
    """

    def __init__(
        self,
        client: EnvServiceClient,
        *,
        env_type: str,
        task_id: str,
        instance_id: str,
        first: dict[str, Any],
    ) -> None:
        self.client = client
        self.env_type = env_type
        self.task_id = task_id
        self.instance_id = instance_id
        state = first.get("state")
        self.init_messages: list[dict[str, Any]] = (
            [dict(m) for m in state]
            if isinstance(state, list)
            else [dict(state)]
            if isinstance(state, dict)
            else []
        )
        self.released = False

    @property
    def main_query(self) -> str:
        return message_text(self.init_messages[-1]) if self.init_messages else ""

    @staticmethod
    def _unpack(data: dict[str, Any]) -> tuple[str, float, bool, dict[str, Any]]:
        return (
            _observation(data),
            float(data.get("reward", 0.0) or 0.0),
            bool(data.get("is_terminated", False)),
            dict(data.get("info") or {}),
        )

    def step(
        self, action: dict[str, Any] | str, params: dict[str, Any] | None = None
    ) -> tuple[str, float, bool, dict[str, Any]]:
        return self._unpack(self.client.step(self.instance_id, _action(action), params))

    async def astep(
        self, action: dict[str, Any] | str, params: dict[str, Any] | None = None
    ) -> tuple[str, float, bool, dict[str, Any]]:
        return self._unpack(await self.client.astep(self.instance_id, _action(action), params))

    def evaluate(
        self, episode_uuid: str | None = None, params: dict[str, Any] | None = None
    ) -> float:
        """The environment's score. ``episode_uuid`` is accepted for AgentJet's call signature."""
        return self.client.evaluate(self.instance_id, params)

    async def aevaluate(self, params: dict[str, Any] | None = None) -> float:
        return await self.client.aevaluate(self.instance_id, params)

    async def arelease(self) -> None:
        if not self.released:
            self.released = True
            await self.client.arelease(self.instance_id)
