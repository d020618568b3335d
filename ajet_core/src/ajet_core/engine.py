"""The Engine protocol: token-in/token-out generation that every backbone provides.

The gateway renders messages to prompt ids with ``engine.tokenizer`` (a Hugging Face tokenizer
with a chat template) and asks the engine to continue them. Logprobs are ``log_softmax(logits/T)``
over the full vocabulary, the same quantity a trainer recomputes (under an
:class:`OutputConstraint`, over the tokens the constraint allows).

An engine that can enforce :class:`OutputConstraint` says so with a class attribute
``supports_constraints = True``; the gateway sends constraints to no other engine.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class CallOrigin:
    """Who asks for a generation: the gateway sets :data:`call_origin` around each engine call.

    Engines that route requests (verl's sticky sessions keep one conversation on one server,
    where its earlier turns are in the prefix cache) read it; the token-in/token-out
    ``generate`` signature stays the same for every engine.
    """

    episode_id: str
    agent: str


call_origin: ContextVar[CallOrigin | None] = ContextVar("ajet_call_origin", default=None)


# JSON as chat templates write it (", " and ": ", no free whitespace), in llguidance's option
# names: every engine enforcing an OutputConstraint writes JSON this way, so a policy's samples
# have one layout whichever backbone serves it.
COMPACT_JSON = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


@dataclass(frozen=True)
class OutputConstraint:
    """What a reply must match, enforced while sampling (constrained decoding).

    Exactly one field is set. ``json_schema``: the reply is one JSON value valid under the
    schema (``{"type": "object"}`` for OpenAI's ``json_object``). ``lark``: a grammar in
    llguidance's Lark dialect, where ``<[123]>`` stands for token id 123 (used for tool calls
    whose markers are special tokens). vLLM-based engines map them to guided decoding:
    ``structured_outputs={"json": schema}`` or ``{"grammar": lark}`` with the ``guidance``
    backend, which speaks the same dialect.

    The reply's recorded logprobs are those of the constrained distribution (the logits with
    every token the grammar forbids masked out, then ``log_softmax(logits / T)``): the tokens
    are what the policy sampled under the constraint.
    """

    json_schema: dict[str, Any] | None = None
    lark: str | None = None

    def compact_json_schema(self) -> dict[str, Any]:
        """``json_schema`` carrying :data:`COMPACT_JSON` where llguidance reads options from a
        schema (``x-guidance``): for servers whose llguidance backend compiles the schema itself
        (vLLM's ``guidance``, SGLang's ``llguidance``), so they write the same layout."""
        if self.json_schema is None:
            raise ValueError("this OutputConstraint is a Lark grammar, not a JSON schema")
        return {**self.json_schema, "x-guidance": COMPACT_JSON}


@dataclass
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1  # -1: no top-k filter
    max_tokens: int = 512
    stop: list[str] = field(default_factory=list)
    stop_token_ids: list[int] = field(default_factory=list)
    seed: int | None = None
    # Set only for engines with ``supports_constraints = True`` (see :class:`OutputConstraint`).
    constraint: OutputConstraint | None = None
    # How many most likely tokens to report per position (OpenAI's top_logprobs); engines that
    # cannot report them leave Generation.top_logprobs None.
    top_logprobs: int = 0
    # Compute this request with shapes that depend on it alone, so its tokens and logprobs do
    # not depend on what else the engine serves at the time (batched kernels round differently
    # for different batch sizes and padding, and a greedy near-tie then flips). The gateway asks
    # for it in evaluation, where results must not depend on load or timing; engines that batch
    # only across requests they cannot separate (vLLM, SGLang) ignore it.
    batch_invariant: bool = False


@dataclass
class Generation:
    token_ids: list[int]
    logprobs: list[float]
    # "stop" (EOS or a stop token/string) or "length" (max_tokens reached)
    finish_reason: str
    # The stop string that ended generation, if one did (its tokens are kept in token_ids).
    matched_stop: str | None = None
    # Which policy version generated it, when the engine knows (verl's servers report their
    # training step): backbones with asynchronous weight updates measure staleness with it.
    weight_version: int | None = None
    # Per sampled token, the ``SamplingParams.top_logprobs`` most likely (token id, logprob)
    # pairs of the distribution it was sampled from; None when not asked or not supported.
    top_logprobs: list[list[tuple[int, float]]] | None = None
    # Per sampled token, the policy version whose weights computed it. An engine that takes new
    # weights mid-request (asynchronous training) reports a reply spanning two versions here;
    # None when the engine does not know.
    token_versions: list[int] | None = None


@runtime_checkable
class Engine(Protocol):
    """What the gateway needs from a backbone's inference side."""

    @property
    def tokenizer(self) -> Any:
        """A Hugging Face tokenizer with a chat template."""

    @property
    def max_model_len(self) -> int:
        """Longest prompt + response, in tokens, the engine accepts."""

    async def generate(self, prompt_ids: list[int], sampling: SamplingParams) -> Generation:
        """Continue ``prompt_ids``. Concurrent calls may be batched by the engine.

        Called on the gateway's own loop thread, not the loop that built the engine: an engine
        must not bind itself to one event loop (Ray object refs and thread-safe queues are
        fine; an ``asyncio.Queue`` created at construction is not).
        """
        ...


class ConstraintError(ValueError):
    """An :class:`OutputConstraint` the engine cannot compile (HTTP 400 in the gateway)."""


class EngineError(RuntimeError):
    """The engine failed to serve a request; the rollout runner may retry the episode."""


class ContextLengthExceeded(EngineError):
    """The prompt leaves no room for a reply within ``max_model_len`` (HTTP 400 in the gateway).

    Not worth retrying: the same prompt fails again.
    """

    def __init__(self, prompt_tokens: int, max_model_len: int) -> None:
        super().__init__(
            f"the prompt is {prompt_tokens} tokens but the engine's max_model_len is "
            f"{max_model_len}, leaving no room for a reply; shorten the conversation or raise "
            "model.max_model_len"
        )
        self.prompt_tokens = prompt_tokens
        self.max_model_len = max_model_len


@dataclass
class GenerationChunk:
    """A piece of a streamed generation (see :class:`StreamingEngine`)."""

    token_ids: list[int]
    logprobs: list[float]
    # Per token, the policy version that computed it (see Generation.token_versions).
    token_versions: list[int] | None = None
    # Set on the last chunk only.
    finish_reason: str | None = None
    matched_stop: str | None = None


@runtime_checkable
class StreamingEngine(Engine, Protocol):
    """Optional: an engine that can hand out tokens while it decodes.

    The gateway streams a reply token by token when the engine has ``generate_stream``; otherwise
    it sends the first chunk at once and the text when :meth:`Engine.generate` returns.
    """

    def generate_stream(self, prompt_ids: list[int], sampling: SamplingParams) -> Any:
        """An async iterator of :class:`GenerationChunk`; the last one has ``finish_reason``."""
        ...
