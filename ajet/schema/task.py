"""AgentJet's home of its task types: ``from ajet.schema.task import Task, WorkflowTask,
WorkflowOutput`` imports this project's own classes (the same objects as ``ajet_core``'s)."""

from ajet_core.schema import Task
from ajet_core.workflow import WorkflowOutput, WorkflowTask

__all__ = ["Task", "WorkflowOutput", "WorkflowTask"]
