"""Turning a reader's task iterator into training batches (epochs, seeded shuffle, resumable)."""

from ajet_core.data.task_stream import EmptySplitError, TaskStream, TaskStreamStateError

__all__ = ["EmptySplitError", "TaskStream", "TaskStreamStateError"]
