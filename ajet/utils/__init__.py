"""AgentJet's ``ajet.utils`` helpers that its tutorials import."""
