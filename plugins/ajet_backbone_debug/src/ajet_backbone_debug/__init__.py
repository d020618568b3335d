"""AgentJet debug backbone: in-process transformers engine and GRPO trainer (CPU or one GPU)."""

__version__ = "0.1.0"
