"""The completion pipeline: prepare -> generate -> finish, for every protocol the gateway speaks.

Every adapter (chat completions, Responses, Messages) turns its request into a
:class:`~ajet_core.gateway.request.ChatRequest` and asks this pipeline for calls; it shapes the
recorded :class:`~ajet_core.schema.LlmCall` s into its own wire format. So rendering, prefix reuse,
sampling rules, tool parsing, recording, counters and the mapping of failures to client errors
exist once.

- **prepare**: render the messages with prefix reuse (:mod:`ajet_core.chat.prefix`), write a
  forced tool call's opening, choose sampling. A large request renders on a worker thread, so
  the gateway's loop keeps serving other episodes meanwhile.
- **generate**: ask the engine for ``n`` continuations (or stream one).
- **finish**: decode, parse tool calls, close the turn, record the call on its episode.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ajet_core.chat.prefix import PromptBuilder, PromptPlan
from ajet_core.chat.render import ChatRenderer, TemplateError
from ajet_core.engine import CallOrigin, Generation, OutputConstraint, SamplingParams, call_origin
from ajet_core.gateway.errors import (
    GatewayError,
    as_gateway_error,
    bad_request,
    context_length_error,
)
from ajet_core.gateway.protocol import new_call_id, new_tool_call_id
from ajet_core.gateway.request import ChatRequest
from ajet_core.gateway.structured import output_constraint
from ajet_core.schema import LlmCall
from ajet_core.toolparsers.base import ParsedReply, ToolParser

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.config.models import AjetConfig
    from ajet_core.engine import Engine
    from ajet_core.gateway.episode import ClientBinding, EpisodeSession, GatewayStats
    from ajet_core.gateway.forwarding import FixedEndpointForwarder

log = logging.getLogger(__name__)

Mode = Literal["train", "rollout", "eval"]
MODES_TUPLE = ("train", "rollout", "eval")

# Requests whose messages hold more text than this render on a worker thread (chat templates
# and tokenizers take about a second per megabyte); smaller ones render inline, cheaper than the
# thread hop.
HEAVY_REQUEST_CHARS = 64 * 1024


@dataclass
class Prepared:
    """A request ready for the engine."""

    binding: ClientBinding
    request: ChatRequest
    builder: PromptBuilder
    plan: PromptPlan
    sampling: SamplingParams
    started: float
    # Reply tokens the gateway writes before the model continues (a forced tool call); they are
    # part of the response at loss mask 0, since the policy did not choose them.
    forced_ids: list[int] = field(default_factory=list)
    # Counted once per request, in `finish` of the first choice.
    engine_started: float = 0.0

    @property
    def engine_prompt(self) -> list[int]:
        return self.plan.prompt_ids + self.forced_ids


@dataclass
class TextDelta:
    """Streamed reply text that is known not to open a tool call or a stop string."""

    text: str


@dataclass
class Completion:
    """What one request produced: a recorded call per choice (``n`` of them)."""

    calls: list[LlmCall]
    request: ChatRequest
    # A fixed endpoint's own reply, passed through unchanged by the chat-completions adapter.
    forwarded: dict[str, Any] | None = None
    # Per call, the engine's top (token id, logprob) pairs per sampled token, when asked.
    top_logprobs: list[list[list[tuple[int, float]]] | None] = field(default_factory=list)


class CompletionPipeline:
    """Serves chat requests from the policy engine (or a fixed endpoint) and records them."""

    def __init__(
        self,
        engine: Engine | None,
        config: AjetConfig,
        mode: Mode,
        tool_parser: ToolParser,
        stats: GatewayStats,
        forwarder: FixedEndpointForwarder,
        model_name: str,
    ) -> None:
        self.engine = engine
        self.config = config
        self.mode: Mode = mode
        self.tool_parser = tool_parser
        self.stats = stats
        self.forwarder = forwarder
        self.model_name = model_name
        self.renderer = ChatRenderer(engine.tokenizer) if engine is not None else None
        # Episodes close on the workflows' loop while calls finish on the gateway's.
        self.record_lock = threading.Lock()

    # ------------------------------------------------------------------------------ entry

    async def complete(
        self, binding: ClientBinding, request: ChatRequest, *, call_id: str | None = None
    ) -> Completion:
        """All ``request.n`` choices, recorded (the first as ``call_id`` when given). Failures
        are counted and raised as GatewayError."""
        try:
            if binding.fixed_endpoint is not None:
                forwarded, call = await self.forwarder.forward(binding, request)
                self._record(binding, call, sampled=0)
                return Completion([call], request, forwarded)
            prepared = await self.prepare(binding, request)
            generations = await self.generate(prepared)
            calls = [
                self.finish(prepared, generation, call_id if index == 0 else None)
                for index, generation in enumerate(generations)
            ]
            return Completion(calls, request, top_logprobs=[g.top_logprobs for g in generations])
        except Exception as exc:  # noqa: BLE001 - every failure becomes a client error
            raise self.failed(binding, exc) from exc

    async def stream(
        self, binding: ClientBinding, request: ChatRequest, *, call_id: str | None = None
    ) -> AsyncIterator[TextDelta | Completion]:
        """Text deltas as the engine decodes, then the :class:`Completion`.

        Text that may open a tool call or a stop string is held back until it is known not to
        be one, so the streamed text is always a prefix of the final content. Requests the
        engine cannot stream (``n`` > 1, fixed endpoints, engines without ``generate_stream``)
        yield only the completion. Failures are counted and raised as GatewayError.
        """
        streamable = (
            request.n == 1
            and binding.fixed_endpoint is None
            and hasattr(self.engine, "generate_stream")
        )
        if not streamable:
            yield await self.complete(binding, request, call_id=call_id)
            return
        try:
            prepared = await self.prepare(binding, request)
            markers = list(request.stop)
            if request.parse_tools and self.tool_parser.start_marker:
                markers.append(self.tool_parser.start_marker)
            ids: list[int] = []
            logprobs: list[float] = []
            versions: list[int] | None = []
            finish_reason, matched_stop, emitted = "length", None, ""
            prepared.engine_started = time.perf_counter()
            engine_prompt = prepared.engine_prompt
            # Set for the rest of this request's task: the stream is consumed right here.
            call_origin.set(origin_of(binding))
            async for piece in self.engine.generate_stream(engine_prompt, prepared.sampling):  # type: ignore[union-attr]
                ids.extend(piece.token_ids)
                logprobs.extend(piece.logprobs)
                if versions is not None and piece.token_versions is not None:
                    versions.extend(piece.token_versions)
                elif piece.token_ids:
                    versions = None  # an engine that does not know its versions
                if piece.finish_reason is not None:
                    finish_reason, matched_stop = piece.finish_reason, piece.matched_stop
                    continue
                text = self.reply_text(prepared.forced_ids + ids, "length", None)
                visible = held_back(text.rstrip("\ufffd"), markers)
                if len(visible) > len(emitted) and visible.startswith(emitted):
                    yield TextDelta(visible[len(emitted) :])
                    emitted = visible
            generation = Generation(
                ids,
                logprobs,
                finish_reason,
                matched_stop,
                weight_version=versions[0] if versions else None,
                token_versions=versions or None,
            )
            yield Completion([self.finish(prepared, generation, call_id)], request)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a client error
            raise self.failed(binding, exc) from exc

    def failed(self, binding: ClientBinding, exc: BaseException) -> GatewayError:
        """Count a failure on the run and the episode; the error the client gets."""
        error = as_gateway_error(exc)
        code = error.code or error.type
        self.stats.errors[code] += 1
        with self.record_lock:
            if not binding.session.closed:
                binding.session.errors.append(
                    {
                        "code": code,
                        "status": error.status,
                        "message": error.message,
                        "agent": binding.agent_name,
                    }
                )
        return error

    # ---------------------------------------------------------------------------- prepare

    async def prepare(self, binding: ClientBinding, request: ChatRequest) -> Prepared:
        started = time.perf_counter()
        if request.size_chars > HEAVY_REQUEST_CHARS:
            return await asyncio.to_thread(self._prepare, binding, request, started)
        return self._prepare(binding, request, started)

    def _prepare(self, binding: ClientBinding, request: ChatRequest, started: float) -> Prepared:
        # Only bindings served by the policy get here, and those exist only with an engine.
        assert self.engine is not None and self.renderer is not None
        session = binding.session
        builder = session.builders.get(binding.agent_name)
        if builder is None:
            builder = session.builders.setdefault(binding.agent_name, PromptBuilder(self.renderer))
        others = [b for name, b in list(session.builders.items()) if name != binding.agent_name]
        try:
            plan = builder.build(request.messages, request.tools, others)
        except TemplateError as exc:
            raise bad_request(str(exc), "messages") from None
        if plan.fallback_reason:
            with self.record_lock:
                session.fallback_reasons[plan.fallback_reason] += 1
                self.stats.fallback_reasons[plan.fallback_reason] += 1
                self.stats.drift_fallbacks += 1
        forced_ids = self._forced_ids(request)
        limit = self.engine.max_model_len
        room = limit - len(plan.prompt_ids) - len(forced_ids)
        if room <= 0:
            raise context_length_error(len(plan.prompt_ids) + len(forced_ids), limit)
        sampling = self._sampling(request, room, session)
        return Prepared(binding, request, builder, plan, sampling, started, forced_ids)

    def _forced_ids(self, request: ChatRequest) -> list[int]:
        """``tool_choice`` naming a function, or ``required``: the reply starts as that call."""
        choice = request.tool_choice
        if not request.parse_tools or choice in (None, "auto", "none"):
            return []
        name = None if choice == "required" else choice["function"]["name"]
        prefix = self.tool_parser.forced_call_prefix(name)
        return self.renderer.encode(prefix) if prefix else []  # type: ignore[union-attr]

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
                "generated tokens (rollout.max_tokens_per_episode); end the episode or raise "
                "the limit",
                "max_tokens",
                code="episode_token_budget_exhausted",
            )
        stop = list(request.stop)
        if request.parse_tools and not request.parallel_tool_calls and self.tool_parser.end_marker:
            # One call at most: the reply ends where the first call does.
            stop.append(self.tool_parser.end_marker)
        constraint = self._constraint(request)
        return SamplingParams(
            constraint=constraint,
            temperature=temperature,
            top_p=top_p,
            top_k=rollout.top_k,
            max_tokens=max(1, min(max_tokens, room, budget)),
            stop=stop,
            stop_token_ids=list(self.renderer.facts.stop_token_ids),  # type: ignore[union-attr]
            seed=request.seed if request.seed is not None else session.next_seed(),
            top_logprobs=request.top_logprobs,
            # Evaluation numbers must not depend on load or timing (see SamplingParams).
            batch_invariant=self.mode == "eval" and self.config.eval.batch_invariant,
        )

    def _constraint(self, request: ChatRequest) -> OutputConstraint | None:
        """Structured output for engines that enforce it; counted where the engine cannot."""
        constraint = output_constraint(request, self.tool_parser, self.renderer)  # type: ignore[arg-type]
        if constraint is None or getattr(self.engine, "supports_constraints", False):
            return constraint
        # Served unconstrained rather than failed: a run on an engine without guided decoding
        # keeps going, and the counter says how often the output was not enforced.
        with self.record_lock:
            self.stats.unconstrained_outputs += 1
        if self.stats.unconstrained_outputs == 1:
            log.warning(
                "the engine %s cannot enforce structured output (response_format / strict or "
                "forced tool schemas): those replies are sampled unconstrained and counted in "
                "the gateway's unconstrained_outputs",
                type(self.engine).__name__,
            )
        return None

    # --------------------------------------------------------------------------- generate

    async def generate(self, prepared: Prepared) -> list[Generation]:
        """``request.n`` continuations of one prompt, each with its own seed."""
        assert self.engine is not None
        prepared.engine_started = time.perf_counter()
        prompt, sampling = prepared.engine_prompt, prepared.sampling
        n = prepared.request.n
        # asyncio.gather's tasks copy this context, so every continuation carries the origin.
        origin = call_origin.set(origin_of(prepared.binding))
        try:
            if n == 1:
                return [await self.engine.generate(prompt, sampling)]
            session = prepared.binding.session
            seeds = [
                (sampling.seed + index) % 2**63
                if sampling.seed is not None
                else session.next_seed()
                for index in range(n)
            ]
            return list(
                await asyncio.gather(
                    *(self.engine.generate(prompt, _with_seed(sampling, seed)) for seed in seeds)
                )
            )
        finally:
            call_origin.reset(origin)

    # ----------------------------------------------------------------------------- finish

    def reply_text(self, ids: list[int], finish_reason: str, matched_stop: str | None) -> str:
        """The text a client sees for reply ids: no end-of-turn token, no stop string."""
        renderer = self.renderer
        assert renderer is not None
        if ids and ids[-1] in renderer.facts.stop_token_ids:
            ids = ids[:-1]
        text = renderer.tokenizer.decode(ids, skip_special_tokens=True)
        if finish_reason == "stop" and matched_stop:
            cut = text.rfind(matched_stop)
            if cut >= 0:
                # The end marker of a single allowed tool call stays: it closes the call.
                keep = matched_stop if matched_stop == self.tool_parser.end_marker else ""
                text = text[:cut] + keep
        return text

    def _parse(self, request: ChatRequest, text: str) -> ParsedReply:
        if not request.parse_tools:
            return ParsedReply(content=text)
        return self.tool_parser.parse(text)

    def finish(
        self, prepared: Prepared, generation: Generation, call_id: str | None = None
    ) -> LlmCall:
        """Record one generated reply on its episode and return the call."""
        binding, request, plan = prepared.binding, prepared.request, prepared.plan
        session = binding.session
        engine_finished = time.perf_counter()
        forced = prepared.forced_ids
        sampled_ids = list(generation.token_ids)
        reply_ids = forced + sampled_ids
        text = self.reply_text(reply_ids, generation.finish_reason, generation.matched_stop)
        parsed = self._parse(request, text)
        if parsed.malformed:
            with self.record_lock:
                session.malformed_tool_calls += 1
                self.stats.malformed_tool_calls += 1
        tool_calls = [
            {
                "id": new_tool_call_id(),
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
        finish_reason = generation.finish_reason
        call = LlmCall(
            call_id=call_id or new_call_id(),
            agent=binding.agent_name,
            target_tag=binding.target_tag,
            trainable=binding.trainable,
            prompt_ids=plan.prompt_ids,
            response_ids=reply_ids + closing.closing_ids,
            response_logprobs=[0.0] * len(forced)
            + list(generation.logprobs)
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
            weight_version=generation.weight_version,
            response_versions=response_versions(generation, len(forced), len(closing.closing_ids)),
        )
        prepared.builder.remember(
            call.call_id, request.messages, request.tools, plan, call.response_ids, closing, reply
        )
        call.latency = time.perf_counter() - prepared.started
        self._record(binding, call, sampled=len(sampled_ids))
        if prepared.engine_started:
            # Added latency: the gateway's own work before and after the engine, not the time
            # this request waited for the event loop while other requests ran.
            self.stats.overheads.append(
                (prepared.engine_started - prepared.started)
                + (time.perf_counter() - engine_finished)
            )
            prepared.engine_started = 0.0
        return call

    def _record(self, binding: ClientBinding, call: LlmCall, sampled: int) -> None:
        with self.record_lock:
            session = binding.session
            if not session.closed:  # a call finishing after its episode timed out is dropped
                session.calls.append(call)
                session.generated_tokens += sampled
            self.stats.calls += 1


def origin_of(binding: ClientBinding) -> CallOrigin:
    """The episode and agent an engine call is made for (engines that route requests read it)."""
    return CallOrigin(episode_id=binding.session.episode_id, agent=binding.agent_name)


def _with_seed(sampling: SamplingParams, seed: int | None) -> SamplingParams:
    from dataclasses import replace

    return replace(sampling, seed=seed)


def held_back(text: str, markers: list[str]) -> str:
    """Drop a trailing piece of ``text`` that could be the start of one of ``markers``."""
    cut = len(text)
    for marker in markers:
        if not marker:
            continue
        at = text.find(marker)
        if at >= 0:
            cut = min(cut, at)
            continue
        for size in range(min(len(marker) - 1, len(text)), 0, -1):
            if text.endswith(marker[:size]):
                cut = min(cut, len(text) - size)
                break
    return text[:cut]


def response_versions(generation: Generation, forced: int, closing: int) -> list[int] | None:
    """The policy version of every response token (the tokens the gateway added around the
    sampled ones take their neighbours' versions; they train nothing), or None when the engine
    does not report versions."""
    versions = generation.token_versions
    if not versions or len(versions) != len(generation.token_ids):
        return None
    return [versions[0]] * forced + list(versions) + [versions[-1]] * closing
