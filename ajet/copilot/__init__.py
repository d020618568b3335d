"""AgentJet's ``ajet.copilot`` module path: :class:`ajet.copilot.job.AgentJetJob`."""

from ajet.copilot.job import AgentJetJob, TuneResult

__all__ = ["AgentJetJob", "TuneResult"]
