"""AgentJet verl backbone: train AgentJet workflows with verl on Ray."""

__version__ = "0.1.0"
