"""Fixtures for the core's tests: the tiny model's engine (``engine``)."""

from ..support.engines import tiny_engine  # noqa: F401 - the `engine` fixture, registered here
