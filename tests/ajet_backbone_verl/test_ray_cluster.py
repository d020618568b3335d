"""The run's private Ray head: distinct free ports, and a clear error naming the way out when it
cannot start (its successful start and clean stop are exercised by test_cpu_training.py)."""

from __future__ import annotations

import pytest

from ajet_core.cluster.ray_head import PORT_OPTIONS, LocalRayHead, free_port_range, free_ports
from ajet_core.errors import AjetError

pytestmark = pytest.mark.slow  # ray start, twice: a minute on a loaded machine


def test_ports_are_distinct_and_the_worker_range_is_free():
    ports = free_ports(len(PORT_OPTIONS))
    assert len(set(ports)) == len(ports)
    start = free_port_range(200)
    assert 20000 <= start < 60000


def test_a_head_that_cannot_start_fails_clearly_after_its_attempts(monkeypatch, tmp_path):
    monkeypatch.setenv("AJET_RAY_TEMP_PREFIX", "ajet-ray-unit-")
    head = LocalRayHead(num_cpus=-3, attempts=2, start_timeout_s=300)
    with pytest.raises(AjetError) as failure:
        head.start()
    message = str(failure.value)
    assert "in 2 attempts" in message and "attempt 1:" in message and "attempt 2:" in message
    assert "backbone.ray_address=auto" in message
    assert head.temp_dir is not None and not head.temp_dir.exists()  # nothing left behind
    assert head.processes() == []
