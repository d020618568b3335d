"""``PolicyTrainer``: token-level PPO-clip on the core's advantages, updating the served model.

The trainer holds the very ``nn.Module`` the engine generates with and updates it in place, so
the next rollout step samples from the new weights with no copy. Pass ``exclusive=
engine.paused`` so that a step holds the engine's decode loop while it switches the module to
train mode and changes its weights (the loop alternates rollout and training anyway; this makes
an overlap safe rather than silently wrong).

One ``train_step`` reads top to bottom:

1. pack the samples into micro-batches under ``micro_batch_tokens``, each trained token carrying
   its aggregation weight (one normaliser for the whole batch): with ``packing="prefix_tree"``
   (the default) samples that share a token prefix become one tree, the shared tokens computed
   once (see ``prefix_tree``); with ``"none"`` each sample is its own right-padded row;
2. old logprobs: the engine's, or recomputed by the current weights when configured; their gap
   to the trainer's own logprobs is the off-policy alarm (``logprob_gap``, ~0 on this backbone).
   Tokens an older policy version sampled (asynchronous training, ``Sample.versions`` behind
   ``self.step``) use the decoupled objective: the clip is taken around the *proximal* policy
   (these weights, recomputed here) and the token's loss is weighted by the truncated
   behaviour importance weight ``min(pi_proximal / pi_behaviour, behaviour_weight_cap)``;
3. reference logprobs for the KL term, only when ``kl_coef > 0``;
4. ``ppo_epochs`` times: accumulate the gradients of all micro-batches (their losses sum to the
   loss of one big batch), clip the gradient norm, take one AdamW step;
5. advance the learning-rate schedule once per ``train_step``.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import torch

from ajet_backbone_debug.training import checkpoint as ckpt
from ajet_backbone_debug.training.batching import (
    MicroBatch,
    PackedBatch,
    pack_samples,
    validate_samples,
)
from ajet_backbone_debug.training.logprobs import (
    TREE_MASK_ATTENTION,
    attention_implementation,
    supports_selected_logits,
    token_logprobs,
)
from ajet_backbone_debug.training.lora import is_peft_model, wrap_with_lora
from ajet_backbone_debug.training.loss import kl_low_variance, ppo_clip_loss
from ajet_backbone_debug.training.memory import release_freed_memory
from ajet_backbone_debug.training.prefix_tree import pack_prefix_trees
from ajet_backbone_debug.training.schedule import build_scheduler
from ajet_core import metrics as m
from ajet_core.config.models import TrainerConfig
from ajet_core.schema import Sample

MixedPrecision = Literal["no", "bf16"]
Packing = Literal["prefix_tree", "none"]

# Metric names: defined once in ajet_core.metrics (docs/metrics.md).
_NAMES = {
    "loss": m.LOSS,
    "pg_loss": m.PG_LOSS,
    "kl": m.KL,
    "clip_frac": m.CLIP_FRACTION,
    "grad_norm": m.GRAD_NORM,
    "lr": m.LEARNING_RATE,
    "entropy": m.ENTROPY,
    "logprob_gap": m.LOGPROB_GAP,
    "logprob_gap_max": m.LOGPROB_GAP_MAX,
    "num_tokens": m.TRAIN_TOKENS,
    "num_micro_batches": m.MICRO_BATCHES,
    "computed_tokens": m.COMPUTED_TOKENS,
    "skipped_steps": m.SKIPPED_STEPS,
    "stale_token_fraction": m.STALE_TOKEN_FRACTION,
    "behaviour_weight_mean": m.BEHAVIOUR_WEIGHT_MEAN,
}


def _named(stats: dict[str, float]) -> dict[str, float]:
    return {_NAMES.get(k, k): v for k, v in stats.items()}


class PolicyTrainer:
    """Train ``model`` (a transformers causal LM, the engine's own module) on ``Sample`` batches.

    Args:
        model: the served causal LM. With ``config.lora.rank > 0`` LoRA adapters are injected
            into it in place and only they train; a ``peft.PeftModel`` is accepted as is.
        config: the run's ``trainer`` section.
        temperature: the rollout temperature the engine sampled with; logprobs are
            ``log_softmax(logits / temperature)`` on both sides.
        tokenizer: saved next to checkpoints and exports when given.
        total_steps: number of ``train_step`` calls in the run (needed by linear/cosine
            schedules); defaults to ``config.total_steps``.
        mixed_precision: ``"bf16"`` runs the forward/backward under bf16 autocast (weights and
            optimizer state stay in their own dtype; logprobs are computed in float32).
        compute_entropy: report the policy's mean entropy on the trained positions.
        selected_logits: compute logits only at the positions that predict trained tokens
            (default); False runs the model's own full forward (for comparison/debugging).
        exclusive: a context-manager factory held around each step and each checkpoint load,
            e.g. ``TransformersEngine.paused``, so the engine never decodes mid-update.
        packing: ``"prefix_tree"`` forwards samples that share a prefix as one tree (same loss
            and gradient, fewer tokens computed); ``"none"`` one padded row per sample.
        publish: called with ``(tensors, version)`` after every update and every checkpoint
            load, e.g. ``TransformersEngine.update_weights``: ``tensors`` are the trainable
            parameters by name when the trainer trains its own copy of the served model
            (``own_copy``), None when it trains the served module itself (only the version
            changes then).
        own_copy: the model is the trainer's own, not the engine's (asynchronous training).
        num_threads: torch threads for the update (the engine decodes on the others meanwhile).
    """

    def __init__(
        self,
        model: Any,
        config: TrainerConfig,
        *,
        temperature: float,
        tokenizer: Any = None,
        total_steps: int | None = None,
        mixed_precision: MixedPrecision = "no",
        compute_entropy: bool = True,
        selected_logits: bool = True,
        exclusive: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
        packing: Packing = "prefix_tree",
        publish: Callable[[dict[str, torch.Tensor] | None, int], None] | None = None,
        own_copy: bool = False,
        num_threads: int | None = None,
    ) -> None:
        if not temperature > 0:
            raise ValueError(
                f"rollout.temperature={temperature}: training needs sampled tokens with "
                "logprobs log_softmax(logits / T), so T must be > 0 (greedy decoding is for eval)"
            )
        if mixed_precision not in ("no", "bf16"):
            raise ValueError(
                f"mixed_precision={mixed_precision!r} is not known; use 'no' or 'bf16'"
            )
        if packing not in ("prefix_tree", "none"):
            raise ValueError(f"packing={packing!r} is not known; use 'prefix_tree' or 'none'")
        attention = attention_implementation(model)
        if packing == "prefix_tree" and attention not in TREE_MASK_ATTENTION:
            raise ValueError(
                f"packing='prefix_tree' needs an attention that takes a custom 4D mask "
                f"({', '.join(TREE_MASK_ATTENTION)}), but the model uses {attention!r}; set "
                "backbone.packing=none, or load the model with attn_implementation='sdpa'"
            )
        self.packing = packing
        self.config = config
        self.temperature = float(temperature)
        self.tokenizer = tokenizer
        self.compute_entropy = compute_entropy
        self._exclusive = exclusive or contextlib.nullcontext
        self._publish_to = publish
        self.own_copy = own_copy
        self.num_threads = num_threads
        self.autocast_dtype = torch.bfloat16 if mixed_precision == "bf16" else None
        self.step = 0

        # The model: trained in place. With LoRA, `self.model` is still the served module (its
        # linear layers now carry adapters) and `self.peft_model` the wrapper that saves/merges.
        self.peft_model: Any = None
        self._reference: Any = None
        if is_peft_model(model):
            self.peft_model = model
            self.model = model.get_base_model()
        elif config.lora.rank > 0:
            self.peft_model = wrap_with_lora(model, config.lora)
            self.model = model
        else:
            self.model = model
            for parameter in model.parameters():
                parameter.requires_grad_(True)
            if config.kl_coef > 0:
                # A frozen copy of the starting weights; with LoRA the reference is the same
                # model with its adapters switched off, so no copy is needed there.
                self._reference = copy.deepcopy(model).eval().requires_grad_(False)
        self._fast_logits = selected_logits and supports_selected_logits(self.model)
        self.device = next(self.model.parameters()).device
        head = self.model.get_output_embeddings()
        self.vocab_size = head.weight.shape[0] if head is not None else None

        # AdamW; biases and norm weights (1-D) get no weight decay, as is usual for transformers.
        trainable = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        if not trainable:
            raise ValueError("the model has no trainable parameters (all have requires_grad=False)")
        groups = [
            {
                "params": [p for _, p in trainable if p.ndim >= 2],
                "weight_decay": config.weight_decay,
            },
            {"params": [p for _, p in trainable if p.ndim < 2], "weight_decay": 0.0},
        ]
        self.optimizer = torch.optim.AdamW(
            [g for g in groups if g["params"]], lr=config.lr, betas=tuple(config.betas)
        )
        self.scheduler = build_scheduler(
            self.optimizer,
            config.lr_scheduler,
            config.warmup_steps,
            total_steps if total_steps is not None else config.total_steps,
        )

    # ------------------------------------------------------------------ public API

    @property
    def is_lora(self) -> bool:
        return self.peft_model is not None

    def trainable_parameters(self) -> list[tuple[str, torch.nn.Parameter]]:
        return [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]

    def train_step(self, samples: Sequence[Sample]) -> dict[str, float]:
        """One policy update on ``samples``; returns the step's metrics.

        A batch without any trained token changes nothing and reports ``num_tokens = 0``.
        """
        if self.num_threads is not None:
            torch.set_num_threads(self.num_threads)  # this thread's; the engine has its own
        packed = self._pack(samples)
        if packed.num_tokens == 0:
            return _named({"num_tokens": 0.0, "skipped_steps": 1.0, "lr": self.lr})
        lr = self.lr
        epoch_stats: list[dict[str, float]] = []
        skipped = 0
        with self._exclusive(), self._mode(train=True):
            # 2-3. Old (proximal) and reference logprobs, fixed for all PPO epochs of this step.
            old, gap = self._old_logprobs(packed)
            behaviour = self._behaviour_weights(packed, old)
            ref = self._reference_logprobs(packed) if self.config.kl_coef > 0 else None
            # 4. PPO epochs: one optimizer step per pass over the whole batch.
            for epoch in range(self.config.ppo_epochs):
                self.optimizer.zero_grad(set_to_none=True)
                stats = self._accumulate(
                    packed, old, ref, behaviour, measure_gap=gap is None and epoch == 0
                )
                grad_norm = torch.nn.utils.clip_grad_norm_(
                    [p for _, p in self.trainable_parameters()], self.config.grad_clip
                )
                stats["grad_norm"] = float(grad_norm)
                if math.isfinite(stats["grad_norm"]):
                    self.optimizer.step()
                else:  # a NaN/inf gradient would poison the weights and Adam's moments
                    skipped += 1
                epoch_stats.append(stats)
                if gap is None:
                    gap = (stats.pop("logprob_gap"), stats.pop("logprob_gap_max"))
            self.optimizer.zero_grad(set_to_none=True)
            if skipped < self.config.ppo_epochs:
                # A finite gradient can still overflow the weights (a huge learning rate): stop
                # here, before the engine samples from them or a checkpoint saves them.
                ckpt.check_finite(self, f"after the update of step {self.step + 1}")
        # The step's activations are freed now; without this the C heap keeps them (memory.py).
        release_freed_memory()
        # 5. The schedule advances once per train_step.
        self.scheduler.step()
        self.step += 1
        self.publish()
        metrics = {k: sum(s[k] for s in epoch_stats) / len(epoch_stats) for k in epoch_stats[0]}
        metrics.update(
            lr=lr,
            logprob_gap=gap[0],
            logprob_gap_max=gap[1],
            num_tokens=float(packed.num_tokens),
            num_micro_batches=float(len(packed.micro_batches)),
            computed_tokens=float(sum(mb.computed_tokens for mb in packed.micro_batches)),
            skipped_steps=float(skipped),
        )
        metrics.update(self._off_policy_stats(packed, behaviour))
        return _named(metrics)

    def compute_gradients(self, samples: Sequence[Sample]) -> dict[str, float]:
        """Accumulate the gradient of the batch loss into ``.grad`` without stepping.

        The same computation as the first PPO epoch of ``train_step``; tests and benchmarks use
        it to compare the losses and gradients of differently built samples.
        """
        packed = self._pack(samples)
        self.optimizer.zero_grad(set_to_none=True)
        if packed.num_tokens == 0:
            return _named({"loss": 0.0, "num_tokens": 0.0})
        with self._exclusive(), self._mode(train=True):
            old, gap = self._old_logprobs(packed)
            behaviour = self._behaviour_weights(packed, old)
            ref = self._reference_logprobs(packed) if self.config.kl_coef > 0 else None
            stats = self._accumulate(packed, old, ref, behaviour, measure_gap=gap is None)
        stats.update(self._off_policy_stats(packed, behaviour))
        if gap is not None:
            stats.update(logprob_gap=gap[0], logprob_gap_max=gap[1])
        stats["num_tokens"] = float(packed.num_tokens)
        stats["num_micro_batches"] = float(len(packed.micro_batches))
        stats["computed_tokens"] = float(sum(mb.computed_tokens for mb in packed.micro_batches))
        return _named(stats)

    @torch.no_grad()
    def sample_logprobs(self, samples: Sequence[Sample]) -> list[list[float]]:
        """The current policy's logprobs of each sample's trained tokens (eval mode, no grad)."""
        packed = self._pack(samples)
        out: list[list[float]] = [[] for _ in samples]
        with self._exclusive(), self._mode(train=False):
            for mb in packed.micro_batches:
                logp, _ = self._logprobs(self.model, mb)
                owners = mb.sample_of_token
                for owner, index in enumerate(mb.sample_indices):
                    out[index] = logp[owners == owner].tolist()
        return out

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    # Checkpoints: see `checkpoint.py` for the format.
    def state_dict(self) -> dict[str, Any]:
        return ckpt.trainer_state_dict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with self._exclusive():
            ckpt.load_trainer_state_dict(self, state)
        self.publish()

    def save(self, directory: str | Path) -> Path:
        return ckpt.save_checkpoint(self, directory)

    def load(self, directory: str | Path) -> None:
        with self._exclusive():
            ckpt.load_checkpoint(self, directory)
        self.publish()

    def publish(self) -> None:
        """Hand the engine this version (and, with ``own_copy``, its weights): the engine
        takes them between two decode steps, so running requests go on with them."""
        if self._publish_to is None:
            return
        tensors = (
            {name: p.detach() for name, p in self.trainable_parameters()} if self.own_copy else None
        )
        self._publish_to(tensors, self.step)

    # The names the core's CheckpointManager calls.
    save_checkpoint = save
    load_checkpoint = load

    def export(self, directory: str | Path) -> Path:
        """Write a full model directory (LoRA merged) that plain transformers loads."""
        from ajet_backbone_debug.export import export_trainer_model

        return export_trainer_model(self, directory)

    # ------------------------------------------------------------------ internals

    def _pack(self, samples: Sequence[Sample]) -> PackedBatch:
        validate_samples(samples, self.vocab_size)
        pack = pack_prefix_trees if self.packing == "prefix_tree" else pack_samples
        return pack(
            samples, self.config.micro_batch_tokens, self.config.loss_agg, device=self.device
        )

    def _logprobs(
        self, model: Any, mb: MicroBatch, with_entropy: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        return token_logprobs(
            model, mb, self.temperature, self._fast_logits, self.autocast_dtype, with_entropy
        )

    @contextlib.contextmanager
    def _mode(self, train: bool) -> Iterator[None]:
        """Put the model in train/eval mode and restore the engine's mode afterwards."""
        was_training = self.model.training
        self.model.train(train)
        try:
            yield
        finally:
            self.model.train(was_training)

    def stale_tokens(self, mb: MicroBatch) -> torch.Tensor | None:
        """Where ``mb``'s tokens were sampled by an older policy version than these weights
        (``self.step`` updates so far); None when none were (synchronous training)."""
        if mb.versions is None:
            return None
        stale = (mb.versions >= 0) & (mb.versions < self.step)
        return stale if bool(stale.any()) else None

    @torch.no_grad()
    def _old_logprobs(
        self, packed: PackedBatch
    ) -> tuple[list[torch.Tensor], tuple[float, float] | None]:
        """The logprobs the clip is taken around, per micro-batch, and their gap to the engine's
        when recomputed here (else None).

        On-policy tokens use the engine's logprobs (or all are recomputed, when configured).
        Stale tokens always use the proximal policy, these weights before the update: the
        decoupled objective clips the update around it, not around the older behaviour policy,
        so a stale token does not push the new weights back toward the old ones.
        """
        recompute_all = self.config.recompute_logprobs
        stale_masks = [self.stale_tokens(mb) for mb in packed.micro_batches]
        if not recompute_all and all(stale is None for stale in stale_masks):
            return [mb.old_logprobs for mb in packed.micro_batches], None
        old, total, worst = [], 0.0, 0.0
        with self._mode(train=False):
            for mb, stale in zip(packed.micro_batches, stale_masks):
                if not recompute_all and stale is None:
                    old.append(mb.old_logprobs)
                    continue
                logp, _ = self._logprobs(self.model, mb)
                if recompute_all:
                    diff = (logp - mb.old_logprobs).abs()
                    total += float(diff.sum())
                    worst = max(worst, float(diff.max()))
                    old.append(logp)
                else:
                    old.append(torch.where(stale, logp, mb.old_logprobs))  # type: ignore[arg-type]
        return old, ((total / packed.num_tokens, worst) if recompute_all else None)

    def _behaviour_weights(
        self, packed: PackedBatch, proximal: list[torch.Tensor]
    ) -> list[torch.Tensor | None]:
        """Per micro-batch, each token's behaviour importance weight: 1 on tokens these weights
        sampled, ``min(pi_proximal / pi_behaviour, cap)`` on stale ones (truncated, so one
        token the old policy found unlikely cannot dominate the step); None when no token of
        the micro-batch is stale."""
        weights: list[torch.Tensor | None] = []
        for mb, prox in zip(packed.micro_batches, proximal):
            stale = self.stale_tokens(mb)
            if stale is None:
                weights.append(None)
                continue
            ratio = torch.exp((prox - mb.old_logprobs).clamp(max=20.0))
            capped = ratio.clamp(max=self.config.behaviour_weight_cap)
            weights.append(torch.where(stale, capped, torch.ones_like(capped)))
        return weights

    def _off_policy_stats(
        self, packed: PackedBatch, behaviour: list[torch.Tensor | None]
    ) -> dict[str, float]:
        if all(mb.versions is None for mb in packed.micro_batches):
            return {}
        stale_tokens, weight_sum = 0, 0.0
        for mb, weights in zip(packed.micro_batches, behaviour):
            stale = self.stale_tokens(mb)
            if stale is not None and weights is not None:
                stale_tokens += int(stale.sum())
                weight_sum += float(weights[stale].sum())
        return {
            "stale_token_fraction": stale_tokens / packed.num_tokens,
            "behaviour_weight_mean": weight_sum / stale_tokens if stale_tokens else 1.0,
        }

    @torch.no_grad()
    def _reference_logprobs(self, packed: PackedBatch) -> list[torch.Tensor]:
        if self.peft_model is not None:
            context = self.peft_model.disable_adapter()
            reference = self.model
        else:
            context = contextlib.nullcontext()
            reference = self._reference
        with context:
            return [self._logprobs(reference, mb)[0] for mb in packed.micro_batches]

    def _accumulate(
        self,
        packed: PackedBatch,
        old: list[torch.Tensor],
        ref: list[torch.Tensor] | None,
        behaviour: list[torch.Tensor | None],
        measure_gap: bool,
    ) -> dict[str, float]:
        """Backward every micro-batch's share of the batch loss; return the batch's stats."""
        cfg = self.config
        sums = {"loss": 0.0, "pg_loss": 0.0, "kl": 0.0, "clip_frac": 0.0, "entropy": 0.0}
        gap_sum, gap_max = 0.0, 0.0
        for index, mb in enumerate(packed.micro_batches):
            logp, entropy = self._logprobs(self.model, mb, with_entropy=self.compute_entropy)
            pg, clipped = ppo_clip_loss(
                logp, old[index], mb.advantages, cfg.clip_ratio_low, cfg.clip_ratio_high
            )
            if behaviour[index] is not None:
                pg = behaviour[index] * pg
            per_token = pg
            if ref is not None:
                kl = kl_low_variance(logp, ref[index])
                per_token = pg + cfg.kl_coef * kl
                sums["kl"] += float((mb.weights * kl.detach()).sum())
            loss = (mb.weights * per_token).sum()
            loss.backward()
            sums["loss"] += float(loss.detach())
            sums["pg_loss"] += float((mb.weights * pg.detach()).sum())
            sums["clip_frac"] += float(clipped.sum())
            if entropy is not None:
                sums["entropy"] += float(entropy.sum())
            if measure_gap:
                # The engine/trainer mismatch alarm, on tokens these weights sampled: a stale
                # token's gap is the policy's own change, not a mismatch.
                diff = (logp.detach() - mb.old_logprobs).abs()
                stale = self.stale_tokens(mb)
                if stale is not None:
                    diff = diff.masked_fill(stale, 0.0)
                gap_sum += float(diff.sum())
                gap_max = max(gap_max, float(diff.max()))
        stats = dict(sums)
        stats["clip_frac"] /= packed.num_tokens
        if self.compute_entropy:
            stats["entropy"] /= packed.num_tokens
        else:
            del stats["entropy"]
        if measure_gap:
            stats["logprob_gap"] = gap_sum / packed.num_tokens
            stats["logprob_gap_max"] = gap_max
        return stats
