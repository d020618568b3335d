"""What trinity's trainer trains: the algorithm type and the read from the experience buffer.

Both are named in the translated config by dotted path (trinity's registries import them):

* :class:`AjetGRPONoReference`: trinity's ``grpo`` loads a reference model and computes its
  logprobs every step (``algorithm.use_reference``, read at ``trainer/verl/trainer.py:253`` and
  used at ``:533``) even when no KL term uses them. With ``trainer.kl_coef: 0`` the translation
  names this class instead: the same GRPO, without the reference model.
* :class:`AjetSampleStrategy`: trinity counts *experiences*; an episode that yields several
  samples sends several, so an explorer step may send more than ``train_batch_size`` and the
  surplus waits in the queue for the next trainer step — in ``sync`` / ``one_step_off`` it grows
  step after step and the trainer falls ever further behind the explorer. This strategy reads a
  batch as trinity's ``staleness_control`` does (the queue skips experiences from weights older
  than ``max_staleness`` versions behind the trainer's) and reports how old what it trained on
  was: ``samples/staleness_mean`` and ``samples/staleness_max``, in weight versions behind the
  trainer's current weights (``trinity_metrics.jsonl``, role ``trainer``, and TensorBoard).
"""

from __future__ import annotations

from typing import Any

from trinity.algorithm.algorithm import GRPOAlgorithm
from trinity.algorithm.sample_strategy.sample_strategy import DefaultSampleStrategy
from trinity.algorithm.sample_strategy.utils import representative_sample
from trinity.utils.timer import Timer

from ajet_core.rollout.summary import staleness_summary


class AjetGRPONoReference(GRPOAlgorithm):
    """Trinity's GRPO without the reference model (nothing uses it when the KL loss is off)."""

    use_reference: bool = False


def staleness_metrics(experiences: list[Any], train_step: int) -> dict[str, float]:
    """Weight versions between each experience's policy and the trainer's current weights.

    Trainer step ``n`` updates weights version ``n - 1``; trinity stamps the rollout model's
    version on every experience (``info["model_version"]``)."""
    ages = [
        max(train_step - 1 - int(e.info["model_version"]), 0)
        for e in experiences
        if "model_version" in (e.info or {})
    ]
    return staleness_summary(ages) if ages else {}


class AjetSampleStrategy(DefaultSampleStrategy):
    def __init__(self, buffer_config: Any, **kwargs: Any) -> None:
        super().__init__(buffer_config)
        limit = kwargs.get("max_staleness")
        self.max_staleness = None if limit is None else int(limit)

    @classmethod
    def default_args(cls) -> dict:
        return {"max_staleness": None}

    async def sample(self, step: int, **kwargs: Any) -> tuple[list, dict, list]:
        read: dict[str, int] = {}
        if self.max_staleness is not None:
            # As trinity's staleness_control: the queue drops older experiences while reading.
            read["min_model_version"] = max(step - self.max_staleness - 1, 0)
        metrics: dict[str, Any] = {}
        with Timer(metrics, "time/read_experience"):
            experiences = await self.exp_buffer.read(**read)
            samples = representative_sample(experiences)
        self.set_model_version_metric(experiences, metrics)
        metrics.update(staleness_metrics(experiences, step))
        return experiences, metrics, samples
