"""Trackers: an episode's recorded LLM calls -> training samples (DESIGN section 6)."""

from ajet_core.tracking.base import Tracker, TrackingStats

__all__ = ["Tracker", "TrackingStats"]
