"""Real local models for machines without a model hub: the tiny test model and SmolLM2 import."""
