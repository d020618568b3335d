"""``create_external_llm_fn``, which AgentJet's tutorial judges import (``MathAnswerAndLlmAsJudge``
asks an external model whether an answer is right).

The function it returns sends one chat request to an OpenAI-compatible endpoint and returns the
reply as ``{"role": ..., "content": ...}``. The endpoint is DashScope's compatible mode with
``DASHSCOPE_API_KEY``, as in AgentJet, unless ``AJET_ALIEN_LLM_BASE_URL`` (and
``AJET_ALIEN_LLM_API_KEY``) name another one, e.g. an ``ajet serve`` model.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

DASHSCOPE_BASE_URL = "https://dashscope.aliyuncs.com/compatible-mode/v1"


def external_base_url() -> str:
    """DashScope's OpenAI-compatible endpoint, or the one ``AJET_ALIEN_LLM_BASE_URL`` names."""
    return os.environ.get("AJET_ALIEN_LLM_BASE_URL", DASHSCOPE_BASE_URL)


def create_external_llm_fn(
    alien_llm_model: str, alien_llm_response_length: int
) -> Callable[..., dict[str, str]]:
    def external_llm_chat_fn(
        messages: list[dict[str, Any]],
        sampling_params_override: dict[str, Any] | None = None,
        request_id: str = "",
    ) -> dict[str, str]:
        import openai

        base_url = external_base_url()
        api_key = os.environ.get("AJET_ALIEN_LLM_API_KEY") or os.environ.get("DASHSCOPE_API_KEY")
        if not api_key:
            raise RuntimeError(
                "the external judge model needs an API key: set DASHSCOPE_API_KEY, or "
                "AJET_ALIEN_LLM_BASE_URL and AJET_ALIEN_LLM_API_KEY for another "
                "OpenAI-compatible endpoint"
            )
        params: dict[str, Any] = {
            "max_tokens": alien_llm_response_length,
            "temperature": 0.0,
            **(sampling_params_override or {}),
        }
        with openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=3) as client:
            reply = client.chat.completions.create(
                model=alien_llm_model, messages=messages, **params
            )
        message = reply.choices[0].message
        return {"role": message.role, "content": message.content or ""}

    return external_llm_chat_fn
