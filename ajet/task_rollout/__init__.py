"""AgentJet's ``ajet.task_rollout`` module path (only what AgentJet's tutorial judges import)."""
