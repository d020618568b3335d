"""Run configuration: models, YAML loading, overrides, AgentJet translation."""
