"""Entry point of ajet-plugins-langchain: registrations only, no heavy imports."""

from __future__ import annotations

from ajet_core.environment import requirement_command
from ajet_core.hookspecs import hookimpl


@hookimpl
def ajet_register_model_clients(registry):
    registry.add(
        "langchain",
        "ajet_plugins_langchain.model:make_langchain_chat_model",
        description="tuner.as_langchain_chat_model(): a LangChain BaseChatModel on the gateway",
        requires=["langchain-core>=0.3", "langchain-openai>=0.3"],
        install_hint=requirement_command("langchain-core>=0.3", "langchain-openai>=0.3"),
    )
