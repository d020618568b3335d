"""What checkpoints and exports read from a trainer: a typed contract below the trainer.

``checkpoint.py`` and ``export.py`` save and restore a trainer's state; ``trainer.py`` calls them.
They depend on this protocol, not on ``PolicyTrainer``, so the trainer sits above both.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from ajet_core.config.models import TrainerConfig


class TrainedState(Protocol):
    """The parts of a trainer (``PolicyTrainer``) its checkpoint holds."""

    config: TrainerConfig
    model: Any  # the served causal LM (with LoRA layers when training adapters)
    peft_model: Any  # the peft wrapper when training LoRA adapters, else None
    optimizer: torch.optim.Optimizer
    scheduler: Any
    step: int  # updates applied: the policy version
    temperature: float
    tokenizer: Any
    device: torch.device

    @property
    def is_lora(self) -> bool: ...

    def trainable_parameters(self) -> list[tuple[str, torch.nn.Parameter]]: ...
