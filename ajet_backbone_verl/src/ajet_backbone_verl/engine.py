"""Our Engine over verl's token-in/token-out server client.

verl's agent loops talk to its rollout servers (vLLM or SGLang replicas) through
``LLMServerClient.generate(request_id, prompt_ids=, sampling_params=) -> TokenOutput``. Putting
that client behind our Engine protocol means the gateway's prompts are exactly the token ids
verl's servers generate from, and the logprobs verl records are the ones our samples carry.

Structured output (:class:`~ajet_core.engine.OutputConstraint`) becomes the guided decoding of
the server behind the client, in the fields verl hands on unchanged (read in verl 0.9.1, for the
vLLM 0.24.0 and SGLang 0.5.12 it pins):

* vLLM: verl builds ``vllm.SamplingParams(max_tokens=..., **sampling_params)``, which takes
  ``structured_outputs`` only as a ``StructuredOutputsParams`` object (a plain dict is not
  converted), so the object is built here: ``json=schema`` or ``grammar=lark``. The schema
  carries the compact JSON layout (``OutputConstraint.compact_json_schema``). Lark grammars
  need the server's ``guidance`` backend (vLLM rejects a per-request backend; its ``auto`` mode
  rewrites Lark into xgrammar's EBNF first): the translation sets it.
* SGLang: its sampling-params dict takes ``json_schema`` (a JSON string) and ``ebnf``; with the
  ``llguidance`` grammar backend (set by the translation) ``ebnf`` reads llguidance's Lark.
* the CPU server (:mod:`ajet_backbone_verl.cpu.server`): vLLM's field names as a plain dict,
  enforced by the debug backbone's llguidance matcher.

In each the grammar masks the logits before sampling, so the logprobs verl returns are those of
the constrained distribution, as the Engine protocol asks.
"""

from __future__ import annotations

import json
from typing import Any

from ajet_backbone_verl.cpu.settings import ROLLOUT_NAME as CPU_ROLLOUT_NAME
from ajet_backbone_verl.routing import current_request_id
from ajet_core.engine import (
    ConstraintError,
    EngineError,
    Generation,
    OutputConstraint,
    SamplingParams,
)

# verl's rollout names whose servers enforce an OutputConstraint (see the module docstring).
CONSTRAINED_ROLLOUTS = frozenset({"vllm", "sglang", CPU_ROLLOUT_NAME})


def vllm_structured_outputs(fields: dict[str, Any]) -> Any:
    """vLLM's ``StructuredOutputsParams`` with ``fields``; vLLM is installed wherever verl's
    agent loops talk to vLLM servers."""
    try:
        from vllm.sampling_params import StructuredOutputsParams
    except ImportError as exc:
        raise EngineError(
            "structured output on verl's vLLM rollout needs vllm importable in the agent-loop "
            f"process to build its StructuredOutputsParams ({exc}); install verl[vllm] there"
        ) from exc
    return StructuredOutputsParams(**fields)


class VerlServerEngine:
    def __init__(
        self, server_client: Any, tokenizer: Any, max_model_len: int, rollout_engine: str = "vllm"
    ) -> None:
        self.server_client = server_client
        self.rollout_engine = rollout_engine
        # Plain attributes satisfy the Engine protocol's read-only properties.
        self.tokenizer = tokenizer
        self.max_model_len = max_model_len
        # Read by the gateway: only these servers get an OutputConstraint.
        self.supports_constraints = rollout_engine in CONSTRAINED_ROLLOUTS

    def server_sampling(self, sampling: SamplingParams) -> dict[str, Any]:
        """Our sampling settings in the vocabulary of verl's servers (vLLM's or SGLang's
        SamplingParams; verl translates only max_tokens and logprobs itself)."""
        sglang = self.rollout_engine == "sglang"
        params: dict[str, Any] = {
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "top_k": sampling.top_k,
            "max_tokens": sampling.max_tokens,
            "logprobs": True,  # the samples' old logprobs; verl turns True into vLLM's logprobs=0
        }
        if sampling.stop:
            params["stop"] = list(sampling.stop)
            # Keep the stop string's tokens: the gateway's records and prefix reuse need the
            # exact tokens the policy produced.
            params["no_stop_trim" if sglang else "include_stop_str_in_output"] = True
        if sampling.stop_token_ids:
            params["stop_token_ids"] = list(sampling.stop_token_ids)
        if sampling.seed is not None:
            params["sampling_seed" if sglang else "seed"] = sampling.seed
        if sampling.constraint is not None:
            params.update(self.constraint_params(sampling.constraint))
        return params

    def constraint_params(self, constraint: OutputConstraint) -> dict[str, Any]:
        """The constraint in the fields this engine's server reads (see the module docstring)."""
        if self.rollout_engine not in CONSTRAINED_ROLLOUTS:
            raise ConstraintError(
                f"verl's {self.rollout_engine!r} rollout has no guided decoding mapped; use "
                "backbone.rollout_engine vllm, sglang or cpu for structured output"
            )
        schema, lark = constraint.json_schema, constraint.lark
        if schema is None and lark is None:
            raise ConstraintError("an OutputConstraint needs json_schema or lark")
        if self.rollout_engine == CPU_ROLLOUT_NAME:
            # A plain dict: our server compiles the schema with the compact layout itself.
            return {"structured_outputs": {"json": schema} if lark is None else {"grammar": lark}}
        # vLLM's and SGLang's llguidance backends read the layout from the schema.
        if self.rollout_engine == "sglang":
            if lark is None:
                return {"json_schema": json.dumps(constraint.compact_json_schema())}
            return {"ebnf": lark}
        fields = {"json": constraint.compact_json_schema()} if lark is None else {"grammar": lark}
        return {"structured_outputs": vllm_structured_outputs(fields)}

    async def generate(self, prompt_ids: list[int], sampling: SamplingParams) -> Generation:
        params = self.server_sampling(sampling)
        try:
            output = await self.server_client.generate(
                current_request_id(),  # one per episode: verl's sticky routing (routing.py)
                prompt_ids=list(prompt_ids),
                sampling_params=params,
            )
        except ConstraintError:
            raise  # the request's grammar does not compile: the client's error (HTTP 400)
        except Exception as exc:
            raise EngineError(f"verl's rollout server failed: {type(exc).__name__}: {exc}") from exc
        if output.stop_reason == "aborted":
            raise EngineError(
                "verl's rollout server aborted the request (weights were being updated)"
            )
        token_ids = list(output.token_ids)
        if output.log_probs is None or len(output.log_probs) != len(token_ids):
            raise EngineError(
                "verl's rollout server returned no logprobs for every token; set "
                "actor_rollout_ref.rollout.calculate_log_probs=true (the backbone's translation "
                "does)"
            )
        finish_reason, matched_stop = self._finish(token_ids, sampling)
        # The server's training step when it generated: verl's v1 trainer measures staleness by it.
        version = (output.extra_fields or {}).get("global_steps")
        return Generation(
            token_ids,
            list(output.log_probs),
            finish_reason,
            matched_stop,
            weight_version=int(version) if version is not None else None,
        )

    def _finish(self, token_ids: list[int], sampling: SamplingParams) -> tuple[str, str | None]:
        """(finish_reason, matched stop string): the server says only completed or aborted."""
        if token_ids and token_ids[-1] in sampling.stop_token_ids:
            return "stop", None
        if sampling.stop:
            text = self.tokenizer.decode(token_ids[-8:], skip_special_tokens=False)
            matched = next((s for s in sampling.stop if text.endswith(s)), None)
            if matched is not None:
                return "stop", matched
        if len(token_ids) >= sampling.max_tokens:
            return "length", None
        # Ended early on the model's own EOS (from its generation config).
        return "stop", None
