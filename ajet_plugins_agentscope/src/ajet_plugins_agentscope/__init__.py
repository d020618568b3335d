"""AgentScope adapter for AgentJet: tuner.as_agentscope_model()."""

__version__ = "0.1.0"
