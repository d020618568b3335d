"""Shared fixtures of the std tests: the reference env server on 127.0.0.1, a free port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}: {process.stderr.read().decode()[-2000:]}"
            )
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {timeout} s")


@pytest.fixture(scope="session")
def env_server():
    """The reference env server as users start it: ``python -m ajet_plugins_std.envs.server``."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ajet_plugins_std.envs.server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--train-size",
            "12",
            "--validation-size",
            "5",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/health", process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
