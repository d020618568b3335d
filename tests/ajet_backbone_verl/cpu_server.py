"""verl's ``LLMServerClient`` with its rollout servers replaced by the tiny model on CPU.

The one test double of the verl tests, at the boundary we cannot run here: verl's servers are
vLLM or SGLang replicas, which need a GPU. Everything above it (verl's agent-loop worker, our
agent loop, gateway, engine adapter, workflow, judger, tracker) is the real code. The request is
served as vLLM would: its sampling-parameter dict, token ids and logprobs in a ``TokenOutput``.
"""

from __future__ import annotations

from typing import Any

from verl.workers.rollout.llm_server import LLMServerClient
from verl.workers.rollout.replica import TokenOutput

from ajet_core.engine import SamplingParams


class CpuServerClient(LLMServerClient):
    def __init__(self, config: Any, engine: Any) -> None:
        super().__init__(config, load_balancer_handle=None)
        self.engine = engine
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def generate(
        self,
        request_id: str,
        *,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        **kwargs: Any,
    ) -> TokenOutput:
        params = dict(sampling_params)
        self.requests.append({"request_id": request_id, "prompt_ids": list(prompt_ids), **params})
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            generation = await self._generate(prompt_ids, params)
        finally:
            self.in_flight -= 1
        return TokenOutput(
            token_ids=generation.token_ids,
            log_probs=generation.logprobs if params.get("logprobs") else None,
            stop_reason="completed",
        )

    async def _generate(self, prompt_ids: list[int], params: dict[str, Any]) -> Any:
        return await self.engine.generate(
            list(prompt_ids),
            SamplingParams(
                temperature=params["temperature"],
                top_p=params["top_p"],
                top_k=params["top_k"],
                max_tokens=params["max_tokens"],
                stop=params.get("stop", []),
                stop_token_ids=params.get("stop_token_ids", []),
                seed=params.get("seed"),
            ),
        )
