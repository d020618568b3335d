"""AgentJet trinity backbone: fully asynchronous RFT with Trinity-RFT."""

__version__ = "0.1.0"
