"""Logprobs of the trained tokens: ``log_softmax(logits / T)``, the quantity the engine records.

Logits are computed only at the positions that predict a trained token: the decoder runs on the
whole micro-batch, then the output head runs on the selected hidden states only. On a 49k-word
vocabulary this is the difference between (rows x width x vocab) and (trained tokens x vocab)
floats, the largest tensor of a training step.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from ajet_backbone_debug.training.batching import MicroBatch

# Config fields of architectures whose forward transforms the head's output (soft-capping,
# scaling). For those the fast path would be wrong, so the full forward is used.
_LOGIT_TRANSFORMS = (
    "final_logit_softcapping",
    "logit_scale",
    "logits_scaling",
    "output_multiplier_scale",
)


def supports_selected_logits(model: Any) -> bool:
    """Whether logits = output_embeddings(decoder(...).last_hidden_state) holds for ``model``."""
    config = getattr(model, "config", None)
    if any(getattr(config, name, None) not in (None, 1, 1.0) for name in _LOGIT_TRANSFORMS):
        return False
    try:
        return model.get_decoder() is not None and model.get_output_embeddings() is not None
    except (AttributeError, NotImplementedError):
        return False


def autocast_context(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def selected_logits(
    model: Any, mb: MicroBatch, fast_path: bool, autocast_dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Float32 logits (n, vocab) at the positions that predict ``mb.targets``."""
    device = mb.input_ids.device
    inputs = {
        "input_ids": mb.input_ids,
        "attention_mask": model_attention_mask(model, mb.attention_mask),
        "use_cache": False,
    }
    if mb.position_ids is not None:
        inputs["position_ids"] = mb.position_ids
    with autocast_context(device, autocast_dtype):
        if fast_path:
            hidden = model.get_decoder()(**inputs).last_hidden_state
            logits = model.get_output_embeddings()(hidden[mb.rows, mb.positions])
        else:
            logits = model(**inputs).logits[mb.rows, mb.positions]
    return logits.float()


# Attention implementations that take a custom 4D mask (a prefix tree's) as is: sdpa takes a
# bool mask; eager adds the mask to the scores, so it gets 0 / -inf floats.
TREE_MASK_ATTENTION = ("sdpa", "eager")


def attention_implementation(model: Any) -> str:
    config = getattr(model, "config", None)
    return str(getattr(config, "_attn_implementation", None) or "eager")


def model_attention_mask(model: Any, mask: torch.Tensor) -> torch.Tensor:
    """``mask`` in the form the model's attention takes: 2D masks as they are; a 4D bool tree
    mask as bool (sdpa) or additive float (eager)."""
    if mask.dim() != 4 or attention_implementation(model) != "eager":
        return mask
    dtype = next(model.parameters()).dtype
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
        ~mask, torch.finfo(dtype).min
    )


def token_logprobs(
    model: Any,
    mb: MicroBatch,
    temperature: float,
    fast_path: bool,
    autocast_dtype: torch.dtype | None = None,
    with_entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(logprobs of mb.targets, entropy per position or None), both shape (n,)."""
    logits = selected_logits(model, mb, fast_path, autocast_dtype) / temperature
    log_probs = torch.log_softmax(logits, dim=-1)
    chosen = log_probs.gather(-1, mb.targets.unsqueeze(-1)).squeeze(-1)
    entropy = None
    if with_entropy:
        with torch.no_grad():
            entropy = -(log_probs.exp() * log_probs).sum(-1)
    return chosen, entropy
