"""Optional LoRA through peft: adapters are injected into the served model in place.

``get_peft_model`` replaces the targeted ``nn.Linear`` layers inside the model object the engine
already holds, so the engine serves the adapted weights with no copy; the reference policy for
the KL term is the same model with its adapters switched off.
"""

from __future__ import annotations

from typing import Any

from ajet_core.config.models import LoraConfig


def wrap_with_lora(model: Any, options: LoraConfig) -> Any:
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    config = PeftLoraConfig(
        r=options.rank,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=options.target_modules,
        task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:  # e.g. target modules that do not exist in this architecture
        raise ValueError(
            f"trainer.lora.target_modules={options.target_modules!r} cannot be applied to "
            f"{type(model).__name__}: {exc}; use 'all-linear' or names of its linear layers"
        ) from exc


def is_peft_model(model: Any) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover - peft is a dependency of this package
        return False
    return isinstance(model, PeftModel)
