"""Learning-rate schedules: constant, linear or cosine decay, each after a linear warmup.

The factor for update ``s`` (0-based) is ``(s + 1) / warmup`` during warmup, so the first update
already moves the weights and the last warmup update reaches the full rate (the peak, update
``max(warmup - 1, 0)``). From the peak it decays (linear or cosine) towards 0 at update ``total``,
which is never taken, so every update of the run has a non-zero rate; constant stays at 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class LrFactor:
    """A callable object (not a lambda) so ``LambdaLR.state_dict`` can save it."""

    kind: str
    warmup_steps: int
    total_steps: int | None

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.kind == "constant" or self.total_steps is None:
            return 1.0
        peak = max(self.warmup_steps - 1, 0)
        progress = min(1.0, (step - peak) / max(1, self.total_steps - peak))
        if self.kind == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, kind: str, warmup_steps: int, total_steps: int | None
) -> torch.optim.lr_scheduler.LambdaLR:
    if kind not in ("constant", "linear", "cosine"):
        raise ValueError(
            f"trainer.lr_scheduler={kind!r} is not known; use 'constant', 'linear' or 'cosine'"
        )
    if kind != "constant" and total_steps is None:
        raise ValueError(
            f"trainer.lr_scheduler={kind!r} decays over the run, so it needs the number of "
            "training steps: set trainer.total_steps, or use lr_scheduler: constant"
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, LrFactor(kind, warmup_steps, total_steps))
