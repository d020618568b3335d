"""The gateway: OpenAI chat completions served by the policy engine, recorded at token level.

One code path serves every client: the Starlette app (:mod:`ajet_core.gateway.app`) calls
:meth:`Gateway.authorize` and :meth:`Gateway.complete`, whether the request came over a socket
or through the in-process ASGI transport the tuner uses when no HTTP server runs.

Per request: the API key names the episode and agent (:class:`ClientBinding`); the messages are
rendered with the engine tokenizer's chat template, reusing the tokens of the agent's earlier
calls (:mod:`ajet_core.chat.prefix`); the engine samples under the rollout config's sampling
(training) or the request's (``rollout``/``eval`` modes); the reply is parsed for tool calls and
the call is recorded as an :class:`~ajet_core.schema.LlmCall` on the episode.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ajet_core.chat.prefix import PromptBuilder, PromptPlan
from ajet_core.chat.render import ChatRenderer, TemplateError
from ajet_core.config.models import AjetConfig, FixedEndpointConfig
from ajet_core.engine import ContextLengthExceeded, EngineError, SamplingParams
from ajet_core.gateway.episode import (
    ClientBinding,
    EpisodeRecording,
    EpisodeSession,
    GatewayStats,
    new_api_key,
)
from ajet_core.gateway.errors import GatewayError, bad_request, unauthorized
from ajet_core.gateway.request import ChatRequest, parse_chat_request
from ajet_core.schema import EpisodeRecord, LlmCall
from ajet_core.toolparsers.base import ParsedReply, ToolParser

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.engine import Engine
    from ajet_core.plugins.manager import PluginManager
    from ajet_core.tuner import AjetTuner

Mode = Literal["train", "rollout", "eval"]
MODES = ("train", "rollout", "eval")
DEFAULT_MODEL_NAME = "ajet-policy"
DEFAULT_AGENT = "default"
# How calls sent to the gateway's default endpoint name their endpoint in the records.
DEFAULT_ENDPOINT_NAME = "--endpoint"


@dataclass
class _Prepared:
    builder: PromptBuilder
    plan: PromptPlan
    sampling: SamplingParams
    started: float
    # Reply tokens the gateway writes before the model continues (a forced tool call); they are
    # part of the response at loss mask 0, since the policy did not choose them.
    forced_ids: list[int] = field(default_factory=list)

    @property
    def engine_prompt(self) -> list[int]:
        return self.plan.prompt_ids + self.forced_ids


class EpisodeHandle:
    """An open episode: its tuner, and ``close()`` to revoke its keys and collect its calls."""

    def __init__(self, gateway: Gateway, session: EpisodeSession) -> None:
        self.gateway = gateway
        self.session = session

    @property
    def episode_id(self) -> str:
        return self.session.episode_id

    @property
    def tuner(self) -> AjetTuner:
        assert self.session.tuner is not None
        return self.session.tuner

    @property
    def calls(self) -> list[LlmCall]:
        return self.session.calls

    def close(self) -> EpisodeRecording:
        return self.gateway.close_episode(self.episode_id)


class Gateway:
    """Serves and records the LLM calls of many concurrent episodes for one policy engine."""

    def __init__(
        self,
        engine: Engine | None,
        config: AjetConfig | None = None,
        *,
        mode: Mode = "train",
        tool_parser: ToolParser | None = None,
        model_name: str = DEFAULT_MODEL_NAME,
        plugins: PluginManager | None = None,
        default_endpoint: FixedEndpointConfig | None = None,
    ) -> None:
        """``default_endpoint`` sends every agent's calls to an external model (``ajet eval
        --endpoint``); the gateway then needs no engine and records calls without tokens."""
        if mode not in MODES:
            raise ValueError(f"gateway mode {mode!r} is not one of {', '.join(MODES)}")
        if engine is None and default_endpoint is None:
            raise ValueError(
                "a gateway without an engine needs a default_endpoint to send calls to"
            )
        self.engine = engine
        self.config = config if config is not None else AjetConfig()
        self.mode: Mode = mode
        self.model_name = model_name
        self.default_endpoint = default_endpoint
        self.renderer = ChatRenderer(engine.tokenizer) if engine is not None else None
        self.tool_parser = (
            tool_parser if tool_parser is not None else self._load_tool_parser(plugins)
        )
        self.stats = GatewayStats()
        self._sessions: dict[str, EpisodeSession] = {}
        self._keys: dict[str, ClientBinding] = {}
        self._app: Any = None
        self._server: Any = None
        self._server_task: asyncio.Task | None = None
        self._forward_client: Any = None
        self.base_url: str | None = None

    def _load_tool_parser(self, plugins: PluginManager | None) -> ToolParser:
        from ajet_core.plugins.manager import get_plugin_manager

        manager = plugins or get_plugin_manager()
        parser_class = manager.load_object(
            "tool_parser", self.config.model.tool_parser, config_key="model.tool_parser"
        )
        return parser_class()

    # ---------------------------------------------------------------------------- episodes

    def open_episode(
        self,
        episode_id: str | None = None,
        *,
        trainable_targets: list[str] | None = None,
        record: EpisodeRecord | None = None,
        seed: int | None = None,
    ) -> EpisodeHandle:
        """Start recording an episode; its tuner hands out clients bound to it.

        ``seed`` makes the episode's sampling reproducible: a request without its own ``seed``
        samples with one derived from it and the call's index in the episode.
        """
        from ajet_core.tuner import AjetTuner

        episode_id = episode_id or (record.episode_id if record else None) or uuid.uuid4().hex
        if episode_id in self._sessions:
            raise ValueError(
                f"episode {episode_id!r} is already open; close it first or use a new id"
            )
        session = EpisodeSession(
            episode_id, list(trainable_targets or []) or None, record=record, seed=seed
        )
        session.tuner = AjetTuner(self, session)
        self._sessions[episode_id] = session
        return EpisodeHandle(self, session)

    def close_episode(self, episode_id: str) -> EpisodeRecording:
        """Revoke the episode's keys and return its calls. Fills ``record`` when one was given."""
        session = self._sessions.pop(episode_id, None)
        if session is None:
            raise KeyError(f"episode {episode_id!r} is not open")
        session.closed = True
        for key in session.keys:
            self._keys.pop(key, None)
        recording = session.recording()
        if session.record is not None:
            session.record.calls = recording.calls
            session.record.drift_fallbacks = recording.drift_fallbacks
            session.record.metadata.setdefault("gateway", {}).update(recording.summary())
        return recording

    def issue_key(
        self,
        session: EpisodeSession,
        agent_name: str = DEFAULT_AGENT,
        target_tag: str | None = None,
        debug_model: str | None = None,
    ) -> str:
        """The API key of one (episode, agent, target tag) client; revoked with the episode."""
        if session.closed:
            raise RuntimeError(f"episode {session.episode_id!r} is closed; its clients are revoked")
        target_tag = target_tag or agent_name
        wanted_endpoint = self._endpoint_name(session, target_tag, agent_name, debug_model)
        if wanted_endpoint is None and self.default_endpoint is not None:
            wanted_endpoint = DEFAULT_ENDPOINT_NAME
        for key, binding in self._keys.items():
            if (
                binding.session is session
                and binding.agent_name == agent_name
                and binding.target_tag == target_tag
                and binding.fixed_endpoint_name == wanted_endpoint
            ):
                return key
        trainable = session.is_trainable(target_tag)
        endpoint_name = self._endpoint_name(session, target_tag, agent_name, debug_model)
        endpoint = self.config.rollout.fixed_endpoints[endpoint_name] if endpoint_name else None
        if endpoint is None and self.default_endpoint is not None:
            endpoint, endpoint_name, trainable = self.default_endpoint, DEFAULT_ENDPOINT_NAME, False
        key = new_api_key()
        self._keys[key] = ClientBinding(
            session, agent_name, target_tag, trainable, endpoint, endpoint_name
        )
        session.keys.add(key)
        return key

    def _endpoint_name(
        self, session: EpisodeSession, target_tag: str, agent_name: str, debug_model: str | None
    ) -> str | None:
        """Which fixed endpoint serves a non-trainable agent (None: the policy does)."""
        if session.is_trainable(target_tag):
            return None  # trained agents always sample from the policy
        endpoints = self.config.rollout.fixed_endpoints
        if debug_model:
            if debug_model not in endpoints:
                raise ValueError(
                    f"debug_model {debug_model!r} is not configured: add it under "
                    f"rollout.fixed_endpoints (configured: {', '.join(endpoints) or 'none'})"
                )
            return debug_model
        for name in (target_tag, agent_name):
            if name in endpoints:
                return name
        return None

    # ---------------------------------------------------------------------------- requests

    def authorize(self, api_key: str | None) -> ClientBinding:
        if not api_key:
            raise unauthorized(
                "no API key: send 'Authorization: Bearer <key>' with a key from the tuner"
            )
        binding = self._keys.get(api_key)
        if binding is None:
            raise unauthorized(
                "unknown or revoked API key (keys are per episode and revoked when it ends); "
                "get a fresh client from the episode's tuner"
            )
        return binding

    async def chat_completion(
        self, api_key: str | None, body: Any, *, started: float | None = None
    ) -> dict[str, Any] | AsyncIterator[bytes]:
        return await self.complete(self.authorize(api_key), body, started=started)

    async def complete(
        self, binding: ClientBinding, body: Any, *, started: float | None = None
    ) -> dict[str, Any] | AsyncIterator[bytes]:
        """A chat completion (a dict) or, for ``stream=True``, an async iterator of SSE bytes."""
        started = time.perf_counter() if started is None else started
        try:
            request = parse_chat_request(body)
            if binding.fixed_endpoint is not None:
                return await self._forward(binding, request, body)
            prepared = self._prepare(binding, request, started)
            if request.stream:
                return self._stream(binding, request, prepared)
            engine_started = time.perf_counter()
            generation = await self.engine.generate(prepared.engine_prompt, prepared.sampling)
            engine_finished = time.perf_counter()
            call = self._finish(
                binding,
                request,
                prepared,
                generation.token_ids,
                generation.logprobs,
                generation.finish_reason,
                generation.matched_stop,
                weight_version=generation.weight_version,
            )
            body = self._completion_body(call, request)
            # Added latency: the gateway's own work before and after the engine, not the time
            # this request spent waiting for the event loop while other requests ran.
            self.stats.overheads.append(
                (engine_started - started) + (time.perf_counter() - engine_finished)
            )
            return body
        except GatewayError as exc:
            self._note_error(binding, exc)
            raise
        except ContextLengthExceeded as exc:
            error = context_length_error(exc.prompt_tokens, exc.max_model_len)
            self._note_error(binding, error)
            raise error from exc
        except EngineError as exc:
            error = GatewayError(
                503, f"the policy engine failed: {exc}", type="server_error", code="engine_error"
            )
            self._note_error(binding, error)
            raise error from exc
        except Exception as exc:
            error = GatewayError(
                500, f"internal gateway error: {type(exc).__name__}: {exc}", type="server_error"
            )
            self._note_error(binding, error)
            raise error from exc

    def _note_error(self, binding: ClientBinding, error: GatewayError) -> None:
        code = error.code or error.type
        self.stats.errors[code] += 1
        if not binding.session.closed:
            binding.session.errors.append(
                {
                    "code": code,
                    "status": error.status,
                    "message": error.message,
                    "agent": binding.agent_name,
                }
            )

    def _prepare(self, binding: ClientBinding, request: ChatRequest, started: float) -> _Prepared:
        # Only bindings served by the policy get here, and those exist only with an engine.
        assert self.engine is not None and self.renderer is not None
        session = binding.session
        builder = session.builders.get(binding.agent_name)
        if builder is None:
            builder = session.builders[binding.agent_name] = PromptBuilder(self.renderer)
        try:
            plan = builder.build(request.messages, request.tools)
        except TemplateError as exc:
            raise bad_request(str(exc), "messages") from None
        if plan.fallback_reason:
            session.fallback_reasons[plan.fallback_reason] += 1
            self.stats.fallback_reasons[plan.fallback_reason] += 1
            self.stats.drift_fallbacks += 1
        forced_ids = self._forced_ids(request)
        limit = self.engine.max_model_len
        room = limit - len(plan.prompt_ids) - len(forced_ids)
        if room <= 0:
            raise context_length_error(len(plan.prompt_ids) + len(forced_ids), limit)
        return _Prepared(builder, plan, self._sampling(request, room, session), started, forced_ids)

    def _forced_ids(self, request: ChatRequest) -> list[int]:
        """``tool_choice`` naming a function, or ``required``: the reply starts as that call."""
        choice = request.tool_choice
        if not request.parse_tools or choice in (None, "auto", "none"):
            return []
        name = None if choice == "required" else choice["function"]["name"]
        prefix = self.tool_parser.forced_call_prefix(name)
        return self.renderer.encode(prefix) if prefix else []

    def _sampling(self, request: ChatRequest, room: int, session: EpisodeSession) -> SamplingParams:
        rollout = self.config.rollout
        if self.mode == "train":
            # The policy gradient needs samples from the distribution the trainer assumes.
            temperature, top_p = rollout.temperature, rollout.top_p
            max_tokens = min(
                request.max_tokens or rollout.max_tokens_per_call, rollout.max_tokens_per_call
            )
        else:
            default_temperature = (
                self.config.eval.temperature if self.mode == "eval" else rollout.temperature
            )
            temperature = (
                request.temperature if request.temperature is not None else default_temperature
            )
            top_p = request.top_p if request.top_p is not None else rollout.top_p
            max_tokens = request.max_tokens or rollout.max_tokens_per_call
        budget = rollout.max_tokens_per_episode - session.generated_tokens
        if budget <= 0:
            raise bad_request(
                f"episode {session.episode_id!r} has used its {rollout.max_tokens_per_episode} "
                "generated tokens (rollout.max_tokens_per_episode); end the episode or raise the "
                "limit",
                "max_tokens",
                code="episode_token_budget_exhausted",
            )
        return SamplingParams(
            temperature=temperature,
            top_p=top_p,
            top_k=rollout.top_k,
            max_tokens=max(1, min(max_tokens, room, budget)),
            stop=list(request.stop),
            stop_token_ids=list(self.renderer.facts.stop_token_ids),
            seed=request.seed if request.seed is not None else session.next_seed(),
        )

    # ------------------------------------------------------------------------- finishing

    def _reply_text(self, ids: list[int], finish_reason: str, matched_stop: str | None) -> str:
        if ids and ids[-1] in self.renderer.facts.stop_token_ids:
            ids = ids[:-1]
        text = self.renderer.tokenizer.decode(ids, skip_special_tokens=True)
        if finish_reason == "stop" and matched_stop:
            cut = text.rfind(matched_stop)
            if cut >= 0:
                text = text[:cut]
        return text

    def _parse(self, request: ChatRequest, text: str) -> ParsedReply:
        if not request.parse_tools:
            return ParsedReply(content=text)
        return self.tool_parser.parse(text)

    def _finish(
        self,
        binding: ClientBinding,
        request: ChatRequest,
        prepared: _Prepared,
        sampled_ids: list[int],
        logprobs: list[float],
        finish_reason: str,
        matched_stop: str | None,
        call_id: str | None = None,
        weight_version: int | None = None,
    ) -> LlmCall:
        session, plan = binding.session, prepared.plan
        forced = prepared.forced_ids
        reply_ids = forced + list(sampled_ids)
        parsed = self._parse(request, self._reply_text(reply_ids, finish_reason, matched_stop))
        if parsed.malformed:
            session.malformed_tool_calls += 1
            self.stats.malformed_tool_calls += 1
        tool_calls = [
            {
                "id": "call_"
                + secrets.token_hex(12),  # gateway-issued: how the next call finds this one
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in parsed.tool_calls
        ]
        reply: dict[str, Any] = {
            "role": "assistant",
            "content": parsed.content if (parsed.content or not tool_calls) else None,
        }
        if tool_calls:
            reply["tool_calls"] = tool_calls
        closing = prepared.builder.close_reply(reply_ids)
        call = LlmCall(
            call_id=call_id or new_call_id(),
            agent=binding.agent_name,
            target_tag=binding.target_tag,
            trainable=binding.trainable,
            prompt_ids=plan.prompt_ids,
            response_ids=reply_ids + closing.closing_ids,
            response_logprobs=[0.0] * len(forced)
            + list(logprobs)
            + [0.0] * len(closing.closing_ids),
            temperature=prepared.sampling.temperature,
            finish_reason="tool_calls" if tool_calls else finish_reason,
            messages=request.messages,
            tools=request.tools,
            response_mask=[0] * len(forced)
            + [1] * len(sampled_ids)
            + [0] * len(closing.closing_ids),
            drift_fallback=plan.fallback_reason is not None,
            drift_reason=plan.fallback_reason,
            reply=reply,
            parent_call_id=plan.parent_call_id,
            malformed_tool_call=parsed.malformed,
            started_at=time.time() - (time.perf_counter() - prepared.started),
            weight_version=weight_version,
        )
        prepared.builder.remember(
            call.call_id, request.messages, request.tools, plan, call.response_ids, closing, reply
        )
        call.latency = time.perf_counter() - prepared.started
        if not session.closed:  # a call finishing after its episode timed out is dropped
            session.calls.append(call)
            session.generated_tokens += len(sampled_ids)
        self.stats.calls += 1
        return call

    def _completion_body(self, call: LlmCall, request: ChatRequest) -> dict[str, Any]:
        sampled = sum(call.response_mask or [])
        return {
            "id": call.call_id,
            "object": "chat.completion",
            "created": int(call.started_at),
            "model": request.model or self.model_name,
            "choices": [
                {
                    "index": 0,
                    "message": call.reply,
                    "finish_reason": call.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": len(call.prompt_ids),
                "completion_tokens": sampled,
                "total_tokens": len(call.prompt_ids) + sampled,
            },
        }

    # --------------------------------------------------------------------------- streaming

    def _stream(
        self, binding: ClientBinding, request: ChatRequest, prepared: _Prepared
    ) -> AsyncIterator[bytes]:
        from ajet_core.gateway.streaming import stream_completion

        return stream_completion(self, binding, request, prepared)

    # ----------------------------------------------------------------------- fixed models

    async def _forward(
        self, binding: ClientBinding, request: ChatRequest, body: dict[str, Any]
    ) -> Any:
        from ajet_core.gateway.forwarding import forward_to_fixed_endpoint

        return await forward_to_fixed_endpoint(self, binding, request, body)

    # ------------------------------------------------------------------------------ serving

    @property
    def app(self) -> Any:
        """The Starlette ASGI app (same code for HTTP and in-process clients)."""
        if self._app is None:
            from ajet_core.gateway.app import build_app

            self._app = build_app(self)
        return self._app

    def ensure_http(self, host: str | None = None, port: int | None = None) -> str:
        """Serve the app over HTTP on the running event loop; returns the ``/v1`` base URL.

        Synchronous, so a tuner can start it on first use: the socket is bound and listening
        before this returns (connections wait in the backlog until uvicorn accepts them).
        """
        from ajet_core.gateway.server import serve_on_running_loop

        if self._server is None:
            settings = self.config.rollout.gateway
            self._server, self._server_task, self.base_url = serve_on_running_loop(
                self.app, host or settings.host, settings.port if port is None else port
            )
        return self.base_url  # type: ignore[return-value]

    async def start_http(self, host: str | None = None, port: int | None = None) -> str:
        """Like :meth:`ensure_http`, and waits until the server accepts connections."""
        from ajet_core.gateway.server import wait_started

        base_url = self.ensure_http(host, port)
        await wait_started(self._server, self._server_task)
        return base_url

    async def stop_http(self) -> None:
        """Stop the HTTP server (if one runs) and close the connections to fixed endpoints."""
        if self._server is not None:
            self._server.should_exit = True
            await self._server_task
            self._server = self._server_task = None
            self.base_url = None
        if self._forward_client is not None:
            await self._forward_client.aclose()
            self._forward_client = None

    def stats_json(self) -> dict[str, Any]:
        return self.stats.to_json() | {"open_episodes": len(self._sessions)}


def context_length_error(prompt_tokens: int, limit: int) -> GatewayError:
    return GatewayError(
        400,
        f"This model's maximum context length is {limit} tokens, but the messages are "
        f"{prompt_tokens} tokens, leaving no room for a reply. Shorten the conversation or raise "
        "model.max_model_len.",
        param="messages",
        code="context_length_exceeded",
    )


def new_call_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"
