"""AgentJet's ``ajet.schema`` package: its task types live in ``ajet.schema.task``."""
