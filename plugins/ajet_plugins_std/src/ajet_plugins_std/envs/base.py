"""What every text environment offers the server: reset, step, evaluate."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StepResult:
    observation: str
    reward: float
    done: bool
    info: dict[str, Any] = field(default_factory=dict)


class TextEnv(ABC):
    """An environment whose observations and actions are text."""

    @abstractmethod
    def reset(self) -> list[dict[str, Any]]:
        """Start the episode; return its first messages (system prompt and first observation)."""

    @abstractmethod
    def step(self, action: str) -> StepResult:
        """Apply the agent's reply."""

    @abstractmethod
    def evaluate(self) -> float:
        """The episode's score so far (1.0 = solved)."""
