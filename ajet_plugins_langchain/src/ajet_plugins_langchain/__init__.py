"""LangChain adapter for AgentJet: tuner.as_langchain_chat_model()."""

__version__ = "0.1.0"
