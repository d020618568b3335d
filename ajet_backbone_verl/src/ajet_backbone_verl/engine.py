"""Our Engine over verl's token-in/token-out server client.

verl's agent loops talk to its rollout servers (vLLM or SGLang replicas) through
``LLMServerClient.generate(request_id, prompt_ids=, sampling_params=) -> TokenOutput``. Putting
that client behind our Engine protocol means the gateway's prompts are exactly the token ids
verl's servers generate from, and the logprobs verl records are the ones our samples carry.
"""

from __future__ import annotations

from typing import Any

from ajet_backbone_verl.routing import current_request_id
from ajet_core.engine import EngineError, Generation, SamplingParams


class VerlServerEngine:
    def __init__(
        self, server_client: Any, tokenizer: Any, max_model_len: int, rollout_engine: str = "vllm"
    ) -> None:
        self.server_client = server_client
        self.rollout_engine = rollout_engine
        # Plain attributes satisfy the Engine protocol's read-only properties.
        self.tokenizer = tokenizer
        self.max_model_len = max_model_len

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
        return params

    async def generate(self, prompt_ids: list[int], sampling: SamplingParams) -> Generation:
        try:
            output = await self.server_client.generate(
                current_request_id(),  # one per episode: verl's sticky routing (routing.py)
                prompt_ids=list(prompt_ids),
                sampling_params=self.server_sampling(sampling),
            )
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
