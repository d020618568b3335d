"""An example third-party AgentJet judger plugin: the template to copy."""

__version__ = "0.1.0"
