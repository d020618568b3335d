"""AgentJet standard task readers, judgers and environments (FrozenLake, Countdown)."""

__version__ = "0.1.0"
