"""The episode API (version 1): HTTP routes over the run's :class:`EpisodeQueue`.

Served by the training gateway's HTTP server beside the model APIs, under ``/ajet/v1``; the
contract (bodies, codes, the lease rules) is in docs/remote_agents.md, and the server describes
itself at ``GET /ajet/v1/openapi.json``:

* ``POST /ajet/v1/episodes/claim`` (run token): the next episode, waiting up to
  ``wait_seconds`` for one (204 when none came, 410 once the run has finished);
* ``POST /ajet/v1/episodes/{id}/heartbeat|finish|abort|keys`` (the claim's lease token).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ajet_core import metrics as m
from ajet_core.gateway.app import read_body, request_api_key
from ajet_core.gateway.errors import GatewayError
from ajet_core.rollout.isolation import WorkflowAborted
from ajet_core.rollout.remote.queue import EpisodeApiError, EpisodeQueue, QueuedEpisode
from ajet_core.workflow import WorkflowOutput

API_VERSION = 1
PREFIX = "/ajet/v1"
# A claim waits at most this long server-side (a client that wants longer claims again).
MAX_CLAIM_WAIT_SECONDS = 30.0
# Bodies of this API are small; a finish carries the judger's outputs.
MAX_BODY_BYTES = 4 * 1024 * 1024


class ClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker: str = Field(default="", max_length=200, description="a name for logs and records")
    wait_seconds: float = Field(default=20.0, ge=0, le=MAX_CLAIM_WAIT_SECONDS)


class AbortRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=10_000)


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_name: str = Field(default="default", min_length=1, max_length=200)
    target_tag: str | None = Field(default=None, max_length=200)
    debug_model: str | None = Field(default=None, max_length=200)


class LeaseInfo(BaseModel):
    token: str
    seconds: float
    expires_in: float


class ClaimedEpisode(BaseModel):
    api_version: int = API_VERSION
    episode_id: str
    mode: str = Field(description="'train' or 'eval': eval episodes sample as eval configures")
    task: dict[str, Any]
    task_thread_index: int
    task_batch_index: int
    base_url: str = Field(description="OpenAI-compatible base URL for this episode's calls")
    api_key: str = Field(description="the default agent's key, valid until the episode ends")
    model: str
    trainable_targets: list[str] | None
    lease: LeaseInfo
    deadline_in: float = Field(description="seconds until the run stops waiting for it")


class LeaseStatus(BaseModel):
    expires_in: float
    deadline_in: float


class IssuedKey(BaseModel):
    api_key: str


class Ended(BaseModel):
    status: str


def claimed_episode(entry: QueuedEpisode, queue: EpisodeQueue) -> ClaimedEpisode:
    lease = entry.lease
    assert lease is not None and entry.deadline_at is not None
    now = queue.clock()
    task = entry.workflow_task
    return ClaimedEpisode(
        episode_id=entry.episode_id,
        mode=entry.mode,
        task=task.task.model_dump(mode="json"),
        task_thread_index=task.task_thread_index,
        task_batch_index=task.task_batch_index,
        base_url=entry.base_url,
        api_key=entry.api_key,
        model=entry.model,
        trainable_targets=entry.trainable_targets,
        lease=LeaseInfo(
            token=lease.token, seconds=queue.lease_seconds, expires_in=queue.lease_seconds
        ),
        deadline_in=entry.deadline_at - now,
    )


def episode_routes(queue: EpisodeQueue) -> list[Route]:
    """The API's routes, to serve with ``Gateway.add_routes``."""

    async def parsed(request: Request, model: type[BaseModel]) -> Any:
        empty = request.headers.get("content-length", "0") == "0" and (
            "transfer-encoding" not in request.headers
        )
        try:
            body = {} if empty else await read_body(request, MAX_BODY_BYTES)
        except GatewayError as exc:
            raise EpisodeApiError(exc.status, "bad_body", exc.message) from None
        try:
            return model.model_validate(body if body is not None else {})
        except ValidationError as exc:
            raise EpisodeApiError(
                422, "invalid_body", f"{model.__name__}: {_validation_message(exc)}"
            ) from None

    def handler(work: Any) -> Any:
        async def handle(request: Request) -> Response:
            try:
                return await work(request)
            except EpisodeApiError as exc:
                return JSONResponse(exc.body(), status_code=exc.status)

        return handle

    async def claim(request: Request) -> Response:
        queue.check_run_token(request_api_key(request))
        wanted = await parsed(request, ClaimRequest)
        worker = wanted.worker or (request.client.host if request.client else "?")
        entry = await queue.next_claim(worker, wanted.wait_seconds)
        if entry is None:
            return Response(status_code=204)
        return JSONResponse(claimed_episode(entry, queue).model_dump(mode="json"))

    async def heartbeat(request: Request) -> Response:
        status = queue.heartbeat(request.path_params["episode_id"], request_api_key(request))
        return JSONResponse(LeaseStatus(**status).model_dump())

    async def finish(request: Request) -> Response:
        episode_id, token = request.path_params["episode_id"], request_api_key(request)
        queue.episode(episode_id, token)  # a wrong lease is named before the body is judged
        output = await parsed(request, WorkflowOutput)
        queue.finish(episode_id, token, output)
        return JSONResponse(Ended(status="finished").model_dump())

    async def abort(request: Request) -> Response:
        episode_id, token = request.path_params["episode_id"], request_api_key(request)
        queue.episode(episode_id, token)
        reason = (await parsed(request, AbortRequest)).reason or "no reason given"
        queue.abort(
            episode_id,
            token,
            WorkflowAborted(m.FAILED_REMOTE_ABORTED, f"the remote worker aborted it: {reason}"),
        )
        return JSONResponse(Ended(status="aborted").model_dump())

    async def keys(request: Request) -> Response:
        episode_id, token = request.path_params["episode_id"], request_api_key(request)
        entry = queue.episode(episode_id, token)
        wanted = await parsed(request, KeyRequest)
        try:
            key = entry.handle.gateway.issue_key(
                entry.handle.session, wanted.agent_name, wanted.target_tag, wanted.debug_model
            )
        except (ValueError, RuntimeError) as exc:  # an unknown debug_model; a closed episode
            status = 409 if isinstance(exc, RuntimeError) else 422
            raise EpisodeApiError(status, "no_key", str(exc)) from None
        return JSONResponse(IssuedKey(api_key=key).model_dump())

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_schema())

    episode = f"{PREFIX}/episodes/{{episode_id}}"
    return [
        Route(f"{PREFIX}/episodes/claim", handler(claim), methods=["POST"]),
        Route(f"{episode}/heartbeat", handler(heartbeat), methods=["POST"]),
        Route(f"{episode}/finish", handler(finish), methods=["POST"]),
        Route(f"{episode}/abort", handler(abort), methods=["POST"]),
        Route(f"{episode}/keys", handler(keys), methods=["POST"]),
        Route(f"{PREFIX}/openapi.json", openapi, methods=["GET"]),
    ]


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
        for error in exc.errors()
    )


# ------------------------------------------------------------------------------ OpenAPI

_ERROR = {"description": "refused; the body names why: {error: {code, message}}"}


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}


def _operation(
    summary: str,
    auth: str,
    request: type[BaseModel] | None,
    response: type[BaseModel] | None,
    errors: tuple[int, ...],
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "security": [{auth: []}],
        "responses": {"200": {"description": "done"}},
    }
    if response is not None:
        operation["responses"]["200"]["content"] = _json(response)
    if request is not None:
        operation["requestBody"] = {"required": False, "content": _json(request)}
    for status in errors:
        operation["responses"][str(status)] = dict(_ERROR)
    return operation


def openapi_schema() -> dict[str, Any]:
    """The episode API described for code generators and readers (OpenAPI 3.1)."""
    from pydantic.json_schema import models_json_schema

    models = [ClaimRequest, ClaimedEpisode, LeaseStatus, WorkflowOutput, AbortRequest, KeyRequest]
    models += [IssuedKey, Ended]
    _, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
    )
    lease_errors = (401, 403, 404, 409, 422)
    episode = f"{PREFIX}/episodes/{{episode_id}}"
    claim = _operation(
        "Claim the next episode (waits up to wait_seconds; 204 if none came, 410 once the run "
        "has finished)",
        "runToken",
        ClaimRequest,
        ClaimedEpisode,
        (401, 410, 422),
    )
    claim["responses"]["204"] = {"description": "no episode was queued within wait_seconds"}
    paths = {
        f"{PREFIX}/episodes/claim": {"post": claim},
        f"{episode}/heartbeat": {
            "post": _operation(
                "Keep the lease alive", "leaseToken", None, LeaseStatus, lease_errors
            )
        },
        f"{episode}/finish": {
            "post": _operation(
                "Finish with a reward, or with the outputs the run's judger reads (metadata)",
                "leaseToken",
                WorkflowOutput,
                Ended,
                lease_errors,
            )
        },
        f"{episode}/abort": {
            "post": _operation(
                "Give the episode up", "leaseToken", AbortRequest, Ended, lease_errors
            )
        },
        f"{episode}/keys": {
            "post": _operation(
                "An API key for another agent of the episode (multi-agent episodes)",
                "leaseToken",
                KeyRequest,
                IssuedKey,
                lease_errors,
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "ajet episode API", "version": str(API_VERSION)},
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "runToken": {"type": "http", "scheme": "bearer", "description": "the run token"},
                "leaseToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the claim's lease.token",
                },
            },
        },
    }
