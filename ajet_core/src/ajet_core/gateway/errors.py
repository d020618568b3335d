"""OpenAI-style errors: ``{"error": {"message", "type", "param", "code"}}`` with an HTTP status."""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # noqa: A002 - OpenAI's field name
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def unauthorized(message: str) -> GatewayError:
    return GatewayError(401, message, type="authentication_error", code="invalid_api_key")


def context_length_error(prompt_tokens: int, limit: int) -> GatewayError:
    return GatewayError(
        400,
        f"This model's maximum context length is {limit} tokens, but the messages are "
        f"{prompt_tokens} tokens, leaving no room for a reply. Shorten the conversation or raise "
        "model.max_model_len.",
        param="messages",
        code="context_length_exceeded",
    )


def as_gateway_error(exc: BaseException) -> GatewayError:
    """The one mapping from what a completion may raise to the status a client sees."""
    from ajet_core.engine import ConstraintError, ContextLengthExceeded, EngineError

    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, ConstraintError):
        return GatewayError(
            400,
            f"the structured-output schema cannot be enforced: {exc}; simplify the schema "
            "(response_format or the tool's parameters)",
            param="response_format",
            code="invalid_schema",
        )
    if isinstance(exc, ContextLengthExceeded):
        return context_length_error(exc.prompt_tokens, exc.max_model_len)
    if isinstance(exc, EngineError):
        return GatewayError(
            503, f"the policy engine failed: {exc}", type="server_error", code="engine_error"
        )
    return GatewayError(
        500, f"internal gateway error: {type(exc).__name__}: {exc}", type="server_error"
    )
