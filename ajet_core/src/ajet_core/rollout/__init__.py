"""Rollout: run G episodes per task through the gateway, judge them, compute advantages."""
