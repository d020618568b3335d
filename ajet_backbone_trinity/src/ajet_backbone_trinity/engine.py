"""The Engine behind the gateway, over Trinity-RFT's rollout model wrapper.

Trinity hands every workflow a ``ModelWrapper`` around its rollout model (a vLLM engine in a Ray
actor). Its ``generate_async`` takes the prompt as ``{"prompt_token_ids": [...]}`` and returns one
``Experience`` per sample with the prompt ids, the sampled ids and their logprobs (vLLM's
``processed_logprobs``: ``log_softmax(logits / T)``, the quantity our trainer-side contract
assumes). Generating from token ids, never from text, is what makes the gateway's prompts exactly
the tokens trinity samples from: no detokenize/retokenize round trip can change them.

Which branch of trinity's ``vLLMRolloutModel.generate`` a prompt takes depends on its type: a
string is tokenized by trinity (``tokenizer(text, truncation=False)``) and sent to vLLM as token
ids; anything else is taken for a multimodal prompt, for which trinity builds a
``vLLMMultiModalRender`` (a vLLM ``ModelConfig`` with ``trust_remote_code=True``, whatever
``model.trust_remote_code`` says). The gateway's prompts are text, so the engine sends the
prompt's text whenever trinity's tokenization gives back exactly the gateway's ids (checked here
with the same tokenizer call), and the token ids only when it would not (e.g. a tokenizer that
adds a BOS the chat template already wrote); either way vLLM samples from exactly the gateway's
tokens.

What vLLM does not return through that API is the finish reason; it is read off the tokens (an
end-of-sequence or stop token, a stop string in the text, or the token limit).

Structured output (:class:`~ajet_core.engine.OutputConstraint`) is vLLM's guided decoding:
trinity's rollout model copies every keyword that names a ``vllm.SamplingParams`` field onto its
default parameters (``vLLMRolloutModel._create_sampling_params``, trinity-rft 0.6.0 with vLLM
0.19.1-0.23.0), so ``structured_outputs`` is sent as vLLM's ``StructuredOutputsParams``
(``json=schema`` or ``grammar=lark``), built here since vLLM takes no plain dict for it. Lark
grammars need vLLM's ``guidance`` backend, which the translation sets through
``explorer.rollout_model.extra_engine_args``. vLLM masks the logits with the grammar before
sampling, so the logprobs are those of the constrained distribution.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from ajet_core.engine import (
    ContextLengthExceeded,
    EngineError,
    Generation,
    OutputConstraint,
    SamplingParams,
)


def load_tokenizer(model_path: str, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)


def end_of_sequence_ids(model_path: str, tokenizer: Any) -> frozenset[int]:
    """The ids that end a reply: the tokenizer's EOS and the model's generation config's."""
    ids: set[int] = set()
    values: list[Any] = [getattr(tokenizer, "eos_token_id", None)]
    try:
        from transformers import GenerationConfig

        values.append(GenerationConfig.from_pretrained(model_path).eos_token_id)
    except (OSError, ValueError):  # no generation_config.json: the tokenizer's EOS is all there is
        pass
    for value in values:
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return frozenset(ids)


def structured_outputs(constraint: OutputConstraint) -> Any:
    """vLLM's ``StructuredOutputsParams`` for ``constraint`` (vLLM runs trinity's rollouts, so it
    is installed beside trinity)."""
    try:
        from vllm.sampling_params import StructuredOutputsParams
    except ImportError as exc:
        raise EngineError(
            "structured output under trinity needs vllm importable in the workflow's process to "
            f"build its StructuredOutputsParams ({exc}); install trinity-rft[vllm]"
        ) from exc
    if constraint.json_schema is not None:
        # With the compact layout the debug engine writes, read by vLLM's guidance backend.
        return StructuredOutputsParams(json=constraint.compact_json_schema())
    return StructuredOutputsParams(grammar=constraint.lark)


class TrinityModelEngine:
    """:class:`ajet_core.engine.Engine` over a trinity ``ModelWrapper`` (token in, token out)."""

    # OutputConstraint becomes vLLM's structured_outputs (see the module docstring).
    supports_constraints = True

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_model_len: int,
        eos_token_ids: Iterable[int] = (),
    ) -> None:
        self.model = model
        # Plain attributes satisfy the Engine protocol's read-only properties.
        self.tokenizer = tokenizer
        self.max_model_len = max_model_len
        self._model_tokenizer_ready = False
        self.eos_ids = frozenset(eos_token_ids)

    @classmethod
    def from_model_wrapper(
        cls, model: Any, *, max_model_len: int | None = None
    ) -> TrinityModelEngine:
        """Build the engine from what the wrapper knows: the model path and its limits."""
        config = model.model_config
        tokenizer = load_tokenizer(model.model_path, getattr(config, "trust_remote_code", False))
        limit = max_model_len or getattr(config, "max_model_len", None)
        if not limit:
            raise EngineError(
                f"trinity's rollout model {model.model_path!r} has no max_model_len; set "
                "explorer.rollout_model.max_model_len (ajet sets it from model.max_model_len)"
            )
        return cls(
            model,
            tokenizer,
            max_model_len=int(limit),
            eos_token_ids=end_of_sequence_ids(model.model_path, tokenizer),
        )

    @staticmethod
    def sampling_kwargs(sampling: SamplingParams) -> dict[str, Any]:
        """vLLM ``SamplingParams`` fields; trinity's rollout model copies each one it knows."""
        kwargs: dict[str, Any] = {
            "n": 1,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "top_k": sampling.top_k,
            "max_tokens": sampling.max_tokens,
            # 0: only the sampled token's logprob, which is all the trainer needs.
            "logprobs": 0,
            # Lists, never None: trinity copies each value onto an already-built vLLM
            # SamplingParams, whose own None-to-list defaults have run by then.
            "stop": list(sampling.stop),
            "stop_token_ids": list(sampling.stop_token_ids),
        }
        if sampling.seed is not None:
            kwargs["seed"] = sampling.seed
        if sampling.constraint is not None:
            kwargs["structured_outputs"] = structured_outputs(sampling.constraint)
        return kwargs

    async def _ensure_model_tokenizer(self) -> None:
        """trinity's vLLM model loads its tokenizer only for text prompts and chats, yet decodes
        with it after every generation, token prompts included: load it once first."""
        if not self._model_tokenizer_ready:
            await self.model.get_message_token_len([{"role": "user", "content": "ready?"}])
            self._model_tokenizer_ready = True

    def trinity_prompt(self, prompt_ids: list[int]) -> str | dict[str, list[int]]:
        """The prompt as trinity's text branch takes it, when that round trip is exact."""
        text = self.tokenizer.decode(prompt_ids, skip_special_tokens=False)
        # The call trinity's text branch makes (BaseInferenceModel._handle_prompt_truncation).
        if self.tokenizer(text, truncation=False)["input_ids"] == list(prompt_ids):
            return text
        return {"prompt_token_ids": list(prompt_ids)}

    async def generate(self, prompt_ids: list[int], sampling: SamplingParams) -> Generation:
        room = self.max_model_len - len(prompt_ids)
        if room <= 0:
            raise ContextLengthExceeded(len(prompt_ids), self.max_model_len)
        sampling = replace(sampling, max_tokens=min(sampling.max_tokens, room))
        kwargs = self.sampling_kwargs(sampling)
        try:
            await self._ensure_model_tokenizer()
            experiences = await self.model.generate_async(
                [self.trinity_prompt(prompt_ids)], **kwargs
            )
        except (
            Exception
        ) as exc:  # any failure of the rollout actor: the gateway retries the episode
            raise EngineError(
                f"trinity's rollout model failed: {type(exc).__name__}: {exc}"
            ) from exc
        if len(experiences) != 1:
            raise EngineError(
                f"trinity's rollout model returned {len(experiences)} samples for n=1"
            )
        experience = experiences[0]
        if experience.truncate_status == "prompt_truncated":
            raise ContextLengthExceeded(len(prompt_ids), self.max_model_len)
        tokens = experience.tokens.tolist()
        prompt_length = int(experience.prompt_length)
        if tokens[:prompt_length] != list(prompt_ids):
            # Generation from other tokens than the gateway rendered would train on a prompt the
            # model never saw; vLLM truncating the prompt is the known cause.
            raise EngineError(
                "trinity's rollout model generated from a different prompt than the one sent "
                f"({prompt_length} tokens back for {len(prompt_ids)} sent); keep "
                "explorer.rollout_model.enable_prompt_truncation off"
            )
        response_ids = tokens[prompt_length:]
        logprobs = [float(v) for v in experience.logprobs.tolist()][: len(response_ids)]
        if len(logprobs) != len(response_ids):
            raise EngineError(
                f"trinity's rollout model returned {len(logprobs)} logprobs for "
                f"{len(response_ids)} sampled tokens; set logprobs=0 in its sampling"
            )
        response_ids, logprobs = self.cut_at_stop(response_ids, logprobs, sampling)
        finish_reason, matched_stop = self.finish_reason(response_ids, sampling)
        return Generation(response_ids, logprobs, finish_reason, matched_stop)

    def cut_at_stop(
        self, response_ids: list[int], logprobs: list[float], sampling: SamplingParams
    ) -> tuple[list[int], list[float]]:
        """End the reply at its first stop token or stop string (keeping it), whatever vLLM did.

        Trinity copies sampling values onto an already-built vLLM ``SamplingParams``; whether a
        late ``stop_token_ids`` still stops generation depends on the vLLM version. Tokens past
        the stop were sampled after the reply ended: they are dropped, never trained, and the
        tokens kept were sampled exactly as without them.
        """
        stop_ids = set(sampling.stop_token_ids) | self.eos_ids
        for index, token in enumerate(response_ids):
            if token in stop_ids:
                response_ids, logprobs = response_ids[: index + 1], logprobs[: index + 1]
                break
        stops = [stop for stop in sampling.stop if stop]
        if stops and any(
            stop in self.tokenizer.decode(response_ids, skip_special_tokens=False) for stop in stops
        ):
            for end in range(1, len(response_ids) + 1):
                text = self.tokenizer.decode(response_ids[:end], skip_special_tokens=False)
                if any(stop in text for stop in stops):
                    return response_ids[:end], logprobs[:end]
        return response_ids, logprobs

    def finish_reason(
        self, response_ids: list[int], sampling: SamplingParams
    ) -> tuple[str, str | None]:
        """Why generation ended, read off the tokens (vLLM's reason is not in the Experience)."""
        if response_ids and (
            response_ids[-1] in self.eos_ids or response_ids[-1] in sampling.stop_token_ids
        ):
            return "stop", None
        if sampling.stop:
            text = self.tokenizer.decode(response_ids, skip_special_tokens=False)
            for stop in sampling.stop:
                if stop and stop in text:
                    return "stop", stop
        if len(response_ids) >= sampling.max_tokens:
            return "length", None
        return "stop", None
