"""The tracker interface and what every tracker shares: building one sample from a chain of
calls, and the length limit.

A *chain* is a list of calls where each call's prompt starts with the previous call's prompt +
response ids. Its sample is the last call's ids; each call in the chain contributes its response
positions with its own response mask (1 on sampled tokens, 0 on gateway-added closing tokens)
and logprobs. Everything else — prompts, tool results, calls trained in another sample — is 0.

Length limit (``tracker.max_sample_tokens``): in a chain every call's ids are a prefix of the
last call's, so a merged sample is never longer than its own last call. A sample over the limit
is handled by ``tracker.overlong``:

- ``split``: the chain is cut at call boundaries; each part is its own sample ending on a whole
  call. A single call longer than the limit is cut at the limit (tokens past it are not trained).
- ``truncate``: the sample is cut at the limit; tokens past it are not trained.

Both train exactly the tokens that fit (a token past the limit has no place in any sample whose
prefix the trainer can compute); ``split`` keeps samples ending on turn boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ajet_core.schema import EpisodeRecord, LlmCall, Sample


@dataclass
class TrackingStats:
    samples: int = 0
    trained_tokens: int = 0
    truncated_samples: int = 0
    dropped_tokens: int = 0  # trained tokens lost to the length limit
    empty_samples_dropped: int = 0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Tracker:
    """Subclasses implement :meth:`chains`; :meth:`build_samples` does the rest."""

    name: ClassVar[str] = ""
    options_model: ClassVar[Any] = None  # the core's tracker section holds all options

    def __init__(
        self, max_sample_tokens: int = 8192, overlong: Literal["split", "truncate"] = "split"
    ) -> None:
        if max_sample_tokens <= 0:
            raise ValueError(f"max_sample_tokens must be positive, got {max_sample_tokens}")
        if overlong not in ("split", "truncate"):
            raise ValueError(f"overlong must be 'split' or 'truncate', got {overlong!r}")
        self.max_sample_tokens = max_sample_tokens
        self.overlong = overlong

    @classmethod
    def from_config(cls, config: Any) -> Tracker:
        """From an :class:`~ajet_core.config.models.AjetConfig` (its ``tracker`` section)."""
        section = getattr(config, "tracker", config)
        return cls(max_sample_tokens=section.max_sample_tokens, overlong=section.overlong)

    # ------------------------------------------------------------------------------- API

    def chains(self, calls: list[LlmCall]) -> list[list[LlmCall]]:  # pragma: no cover
        raise NotImplementedError

    def build_samples(self, episode: EpisodeRecord) -> list[Sample]:
        """The episode's samples (trainable calls with token ids only); stats go to
        ``episode.metadata['tracker']``."""
        calls = [
            c for c in episode.calls if c.trainable and c.response_ids and c.fixed_endpoint is None
        ]
        stats = TrackingStats()
        samples: list[Sample] = []
        for chain in self.chains(calls):
            parts = (
                _split_chain(chain, self.max_sample_tokens) if self.overlong == "split" else [chain]
            )
            for part in parts:
                sample = self._sample(part, episode, stats)
                if sample is None:
                    stats.empty_samples_dropped += 1
                    continue
                samples.append(sample)
        stats.samples = len(samples)
        stats.trained_tokens = sum(s.num_trained_tokens for s in samples)
        episode.metadata["tracker"] = stats.to_json() | {"type": self.name}
        return samples

    # --------------------------------------------------------------------------- helpers

    def _sample(
        self, chain: list[LlmCall], episode: EpisodeRecord, stats: TrackingStats
    ) -> Sample | None:
        last = chain[-1]
        input_ids = last.prompt_ids + last.response_ids
        loss_mask = [0] * len(input_ids)
        old_logprobs = [0.0] * len(input_ids)
        # Versions only when every call of the chain reports them (one engine serves a run).
        versioned = all(call.response_versions is not None for call in chain)
        versions = [-1] * len(input_ids) if versioned else None
        for call in chain:
            start = len(call.prompt_ids)
            for offset, (mask, logprob) in enumerate(
                zip(call.response_mask or [], call.response_logprobs)
            ):
                if mask:
                    loss_mask[start + offset] = 1
                    old_logprobs[start + offset] = logprob
                    if versions is not None:
                        versions[start + offset] = call.response_versions[offset]  # type: ignore[index]
        limit = self.max_sample_tokens
        if len(input_ids) > limit:
            stats.truncated_samples += 1
            stats.dropped_tokens += sum(loss_mask[limit:])
            input_ids, loss_mask, old_logprobs = (
                input_ids[:limit],
                loss_mask[:limit],
                old_logprobs[:limit],
            )
            versions = versions[:limit] if versions is not None else None
        if not any(loss_mask):
            return None
        return Sample(
            input_ids=input_ids,
            loss_mask=loss_mask,
            old_logprobs=old_logprobs,
            advantage=episode.advantage,
            reward=episode.reward if episode.reward is not None else 0.0,
            group_key=episode.group_key,
            episode_id=episode.episode_id,
            agent=last.agent,
            target_tag=last.target_tag,
            call_ids=[c.call_id for c in chain],
            versions=versions,
        )


def is_prefix(prefix: list[int], ids: list[int]) -> bool:
    return len(prefix) <= len(ids) and ids[: len(prefix)] == prefix


def _split_chain(chain: list[LlmCall], limit: int) -> list[list[LlmCall]]:
    parts: list[list[LlmCall]] = []
    current: list[LlmCall] = []
    for call in chain:
        if current and len(call.prompt_ids) + len(call.response_ids) > limit:
            parts.append(current)
            current = []
        current.append(call)
    if current:
        parts.append(current)
    return parts
