"""Claim episodes from an ajet training run and report how they went (the episode API, v1).

``EpisodeClient(url, token)`` claims; an :class:`Episode` carries the task, the OpenAI-compatible
``base_url`` and ``api_key`` its agent calls, and ``finish``/``abort``. While an episode is open a
daemon thread sends heartbeats, so the lease lives exactly as long as this process does.
"""

from ajet_client.client import (
    API_VERSION,
    Episode,
    EpisodeApiError,
    EpisodeClient,
    LeaseLost,
    NoEpisode,
    RunFinished,
)

__all__ = [
    "API_VERSION",
    "Episode",
    "EpisodeApiError",
    "EpisodeClient",
    "LeaseLost",
    "NoEpisode",
    "RunFinished",
]
