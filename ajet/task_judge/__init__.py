"""AgentJet's judge module path (``ajet.task_judge.base_judge.BaseJudge``)."""
