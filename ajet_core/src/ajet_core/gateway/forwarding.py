"""Calls of non-trained agents that are configured to use a fixed external model.

The request goes to the endpoint's ``/chat/completions`` (non-streaming; a streaming client gets
the reply as chunks, from whichever protocol adapter it called), the call is recorded with
``trainable=False`` and no token ids (the viewer shows its messages and reply), and the reply is
returned as the endpoint sent it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ajet_core.gateway.errors import GatewayError
from ajet_core.schema import LlmCall

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.gateway.episode import ClientBinding
    from ajet_core.gateway.request import ChatRequest


class FixedEndpointForwarder:
    """Sends calls to fixed endpoints over one connection pool, opened on first use."""

    def __init__(self) -> None:
        self._client: Any = None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def forward(
        self, binding: ClientBinding, request: ChatRequest
    ) -> tuple[dict[str, Any], LlmCall]:
        """The endpoint's completion as it sent it, and the call recorded for it."""
        import httpx

        endpoint = binding.fixed_endpoint
        assert endpoint is not None
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(600.0, connect=10.0))
        body = request.body
        payload = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        payload["model"] = endpoint.model
        started = time.perf_counter()
        url = endpoint.base_url.rstrip("/") + "/chat/completions"
        try:
            response = await self._client.post(
                url, json=payload, headers={"Authorization": f"Bearer {endpoint.api_key}"}
            )
        except httpx.HTTPError as exc:
            raise GatewayError(
                502,
                f"fixed endpoint {binding.fixed_endpoint_name!r} at {url} is unreachable: {exc}",
                type="server_error",
                code="fixed_endpoint_error",
            ) from exc
        if response.status_code != 200:
            raise GatewayError(
                502,
                f"fixed endpoint {binding.fixed_endpoint_name!r} answered "
                f"{response.status_code}: {response.text[:300]}",
                type="server_error",
                code="fixed_endpoint_error",
            )
        completion = response.json()
        choice = (completion.get("choices") or [{}])[0]
        temperature = body.get("temperature")
        call = LlmCall(
            call_id=completion.get("id") or "fixed",
            agent=binding.agent_name,
            target_tag=binding.target_tag,
            trainable=False,
            prompt_ids=[],
            response_ids=[],
            response_logprobs=[],
            temperature=float(temperature if temperature is not None else 1.0),
            finish_reason=choice.get("finish_reason") or "stop",
            messages=request.messages,
            tools=request.tools,
            latency=time.perf_counter() - started,
            reply=choice.get("message"),
            fixed_endpoint=binding.fixed_endpoint_name,
        )
        return completion, call
