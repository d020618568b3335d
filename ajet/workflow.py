"""``from ajet.workflow import Workflow, WorkflowOutput, WorkflowTask``, as AgentJet spells it."""

from ajet_core.workflow import Workflow, WorkflowOutput, WorkflowTask

__all__ = ["Workflow", "WorkflowOutput", "WorkflowTask"]
