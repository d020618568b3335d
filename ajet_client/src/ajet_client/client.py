"""The episode API's client: claims with retries across server restarts, leases kept alive by a
heartbeat thread, and the server's refusals raised as named errors."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

API_VERSION = 1
PREFIX = "/ajet/v1"
log = logging.getLogger(__name__)

# Lease codes after which the episode is gone for this worker (finish/heartbeat are pointless).
LOST_CODES = {"lease_expired", "deadline_passed", "run_stopped"}


class EpisodeApiError(Exception):
    """The server refused a request; ``status``, ``code`` and its ``message`` say why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class RunFinished(EpisodeApiError):
    """The run hands out no more episodes."""


class LeaseLost(EpisodeApiError):
    """This worker's claim on the episode ended (lease expired, deadline passed, run stopped)."""


class NoEpisode(Exception):
    """No episode was handed out within the time asked for."""


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", response.text[:500]
    if response.status_code == 410:
        raise RunFinished(response.status_code, code, message)
    if (response.status_code == 409 and code in LOST_CODES) or code == "unknown_episode":
        # 404 unknown_episode: the run restarted and its episodes are new ones.
        raise LeaseLost(response.status_code, code, message)
    raise EpisodeApiError(response.status_code, code, message)


class EpisodeClient:
    """A worker's connection to one run: ``url`` is the run's server (``<run>/remote/url``),
    ``token`` its run token (``<run>/remote/token``)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        worker: str = "",
        reconnect_seconds: float = 120.0,
        timeout: float = 60.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.worker = worker
        # How long a claim keeps retrying an unreachable server (a restart from a checkpoint).
        self.reconnect_seconds = reconnect_seconds
        self._token = token
        # TCP_NODELAY: httpx writes a POST's headers and body separately, and with Nagle's
        # algorithm the body then waits for the server's delayed ACK (about 40 ms on Linux) —
        # on every claim and finish.
        transport = httpx.HTTPTransport(
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        )
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EpisodeClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def claim(self, wait_seconds: float = 20.0) -> Episode | None:
        """One claim: an episode, or None when none was queued within ``wait_seconds``
        (the server waits at most 30 s). Raises :class:`RunFinished` when the run has ended."""
        body = {"worker": self.worker, "wait_seconds": min(wait_seconds, 30.0)}
        unreachable_since: float | None = None
        while True:
            try:
                response = self._http.post(
                    f"{PREFIX}/episodes/claim",
                    json=body,
                    headers=self._auth(self._token),
                    timeout=body["wait_seconds"] + 30.0,
                )
                if response.status_code != 503:
                    break
                why = "it has stopped and may be resumed"  # 503: the run stopped before its end
            except httpx.TransportError as exc:
                why = f"{type(exc).__name__}: {exc}"
            # Unreachable or stopped: a restart from a checkpoint comes back at the same URL.
            now = time.monotonic()
            unreachable_since = unreachable_since or now
            if now - unreachable_since > self.reconnect_seconds:
                raise ConnectionError(
                    f"the run at {self.url} has handed out nothing for "
                    f"{self.reconnect_seconds:g} s ({why})"
                )
            time.sleep(1.0)
        if response.status_code == 204:
            return None
        _raise_for(response)
        return Episode(self, response.json())

    @contextmanager
    def episode(self, timeout: float | None = None) -> Iterator[Episode]:
        """Claim (waiting up to ``timeout`` seconds, forever if None) and hold an episode; an
        exception inside the block aborts it with its text, and leaving the block without
        finishing aborts it too."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise NoEpisode(f"no episode was handed out within {timeout:g} s")
            episode = self.claim(20.0 if left is None else min(left, 20.0))
            if episode is not None:
                break
        with episode:
            yield episode

    # -------------------------------------------------------------------------- requests

    def _post(self, path: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self._http.post(path, json=body, headers=self._auth(token))
        _raise_for(response)
        return response.json()

    @staticmethod
    def _auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


class Episode:
    """One claimed episode. ``task`` is the task as the run's reader produced it (a dict:
    ``main_query``, ``init_messages``, ``task_id``, ``metadata``...)."""

    def __init__(self, client: EpisodeClient, claim: dict[str, Any]) -> None:
        if claim.get("api_version") != API_VERSION:
            raise EpisodeApiError(
                200,
                "api_version",
                f"the run speaks episode API version {claim.get('api_version')!r}; this "
                f"ajet-client speaks {API_VERSION}: install the ajet-client that matches the run",
            )
        self.client = client
        self.claim = claim
        self.episode_id: str = claim["episode_id"]
        self.mode: str = claim["mode"]
        self.task: dict[str, Any] = claim["task"]
        self.base_url: str = claim["base_url"]
        self.api_key: str = claim["api_key"]
        self.model: str = claim["model"]
        self.trainable_targets: list[str] | None = claim["trainable_targets"]
        self.lease_seconds: float = claim["lease"]["seconds"]
        self._lease_token: str = claim["lease"]["token"]
        self.ended: str | None = None  # "finished", "aborted" or why the lease was lost
        self._stop = threading.Event()
        self._heartbeats = threading.Thread(
            target=self._beat, name=f"ajet-heartbeat-{self.episode_id[:8]}", daemon=True
        )
        self._heartbeats.start()

    def key(
        self, agent_name: str, target_tag: str | None = None, debug_model: str | None = None
    ) -> str:
        """The API key of another agent of this episode (its calls train per ``target_tag``)."""
        body = {"agent_name": agent_name, "target_tag": target_tag, "debug_model": debug_model}
        return self._call("keys", body)["api_key"]

    def finish(
        self,
        reward: float | list[float] | None = None,
        *,
        is_success: bool | None = None,
        metadata: dict[str, Any] | None = None,
        log_metrics: dict[str, Any] | None = None,
    ) -> None:
        """End the episode with its reward, or with ``metadata`` for the run's judger to score
        (``reward=None``)."""
        body = {
            "reward": reward,
            "is_success": is_success,
            "metadata": metadata or {},
            "log_metrics": log_metrics or {},
        }
        self._call("finish", body)
        self._end("finished")

    def abort(self, reason: str = "") -> None:
        """Give the episode up; the run counts it failed (``remote_aborted``) with ``reason``."""
        self._call("abort", {"reason": reason})
        self._end("aborted")

    def __enter__(self) -> Episode:
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if self.ended is not None:
            self._end(self.ended)
            return
        reason = f"{kind.__name__}: {error}" if kind is not None else "left without finishing"
        try:
            self.abort(reason[:10_000])
        except EpisodeApiError as exc:
            log.warning("could not abort episode %s: %s", self.episode_id, exc)
            self._end("lost")

    # ------------------------------------------------------------------------ internals

    def _call(self, action: str, body: dict[str, Any] | None) -> dict[str, Any]:
        path = f"{PREFIX}/episodes/{self.episode_id}/{action}"
        try:
            return self.client._post(path, self._lease_token, body)
        except LeaseLost as exc:
            self._end(exc.code)
            raise

    def _beat(self) -> None:
        interval = max(self.lease_seconds / 3.0, 0.05)
        while not self._stop.wait(interval):
            try:
                self._call("heartbeat", None)
            except LeaseLost as exc:
                log.warning("episode %s is gone: %s", self.episode_id, exc.message)
                return
            except (EpisodeApiError, httpx.HTTPError) as exc:
                # A missed beat is not fatal: the lease outlives a few; the next one retries.
                log.warning("heartbeat for episode %s failed: %s", self.episode_id, exc)

    def _end(self, how: str) -> None:
        self.ended = self.ended or how
        self._stop.set()
