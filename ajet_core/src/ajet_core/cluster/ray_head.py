"""A local Ray head for one run, started so that a loaded machine does not break it.

``ray.init()`` starting its own head picks random ports and gives the dashboard agent a fixed
15 s to publish its port file; on a machine busy with other work that start-up times out now and
then. This head is started with ``ray start`` instead: its own temp dir (no clash with another
Ray on the machine, and short enough for Ray's socket paths), every port chosen free beforehand,
generous start-up timeouts, and a retry with new ports. It runs in its own process group, and
:meth:`LocalRayHead.stop` ends exactly its processes (that group, and any process that names its
temp dir), never another cluster's — ``ray stop`` would stop every Ray on the machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil

from ajet_core.errors import AjetError

# Ray's own waits, stretched for a machine where other work holds the cores.
HEAD_ENVIRONMENT = {
    "RAY_AUTH_MODE": "disabled",  # Ray >= 2.60 turns token auth on; a private local head needs none
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_raylet_start_wait_time_s": "300",
    "RAY_agent_register_timeout_ms": "300000",
    "RAY_prestart_worker_first_driver": "0",
}
PORT_OPTIONS = (
    "--port",
    "--node-manager-port",
    "--object-manager-port",
    "--dashboard-agent-grpc-port",
    "--dashboard-agent-listen-port",
    "--metrics-export-port",
    "--runtime-env-agent-port",
)
WORKER_PORTS = 200
# Prefix of the head's temp dir; a caller that must find a head's processes without asking it
# (a test cleaning up after a killed run) sets a prefix of its own.
TEMP_PREFIX_VARIABLE = "AJET_RAY_TEMP_PREFIX"
ATTEMPTS = 3
START_TIMEOUT_S = 300.0


def free_ports(count: int) -> list[int]:
    """Ports the kernel reports free now (held open together, so they are distinct)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port_range(size: int, *, low: int = 20000, high: int = 60000) -> int:
    """The first port of ``size`` consecutive ports that are free now (Ray's worker ports); the
    search starts at a point that depends on the process, so two runs starting together differ."""
    for start in range(low + (os.getpid() * 37) % 10000, high - size, size):
        if all(_free(port) for port in range(start, start + size)):
            return start
    raise AjetError(f"no {size} consecutive free ports between {low} and {high} for Ray's workers")


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class LocalRayHead:
    def __init__(
        self,
        *,
        num_cpus: int | None = None,
        num_gpus: int | None = None,
        environment: dict[str, str] | None = None,
        attempts: int = ATTEMPTS,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.environment = {**HEAD_ENVIRONMENT, **(environment or {})}
        self.attempts = attempts
        self.start_timeout_s = start_timeout_s
        self.temp_dir: Path | None = None
        self.address: str | None = None
        self._group: int | None = None

    def command(self, ports: list[int], worker_ports: int) -> list[str]:
        assert self.temp_dir is not None
        command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head"]
        for option, port in zip(PORT_OPTIONS, ports):
            command += [option, str(port)]
        command += [
            "--min-worker-port",
            str(worker_ports),
            "--max-worker-port",
            str(worker_ports + WORKER_PORTS - 1),
            "--include-dashboard=false",
            "--disable-usage-stats",
            "--temp-dir",
            str(self.temp_dir),
        ]
        if self.num_cpus is not None:
            command += ["--num-cpus", str(self.num_cpus)]
        if self.num_gpus is not None:
            command += ["--num-gpus", str(self.num_gpus)]
        return command

    def start(self) -> str:
        """Start the head; returns its address. Raises AjetError when every attempt failed."""
        failures = []
        for attempt in range(1, self.attempts + 1):
            # /tmp, not the run folder: Ray's socket paths must stay under ~107 characters.
            prefix = os.environ.get(TEMP_PREFIX_VARIABLE, "ajet-ray-")
            self.temp_dir = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
            ports = free_ports(len(PORT_OPTIONS))
            command = self.command(ports, free_port_range(WORKER_PORTS))
            env = {**os.environ, **self.environment}
            try:
                started = subprocess.Popen(
                    command,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,  # its own process group: stop() ends exactly it
                )
                self._group = started.pid
                output, _ = started.communicate(timeout=self.start_timeout_s)
                if started.returncode == 0:
                    self.address = f"127.0.0.1:{ports[0]}"
                    return self.address
                failures.append(f"attempt {attempt}: exit {started.returncode}: {output[-1500:]}")
            except subprocess.TimeoutExpired:
                failures.append(f"attempt {attempt}: no head after {self.start_timeout_s:.0f} s")
            self.stop()
        raise AjetError(
            f"could not start a local Ray head in {self.attempts} attempts ("
            + " | ".join(failures)
            + "); the machine may be overloaded or out of ports. Start one yourself "
            "(`ray start --head`) and pass backbone.ray_address=auto"
        )

    def processes(self) -> list[psutil.Process]:
        """This head's processes: its process group, and whatever names its temp dir."""
        found = []
        marker = str(self.temp_dir) if self.temp_dir else None
        for process in psutil.process_iter(["pid", "cmdline"]):
            try:
                in_group = self._group is not None and os.getpgid(process.pid) == self._group
                named = marker is not None and marker in " ".join(process.info["cmdline"] or [])
            except (ProcessLookupError, psutil.Error):
                continue
            if (in_group or named) and process.pid != os.getpid():
                found.append(process)
        return found

    def stop(self, grace_s: float = 20.0) -> None:
        """End every process of this head (SIGTERM, then SIGKILL after ``grace_s``)."""
        processes = self.processes()
        for process in processes:
            try:
                process.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(processes, timeout=grace_s)
        for process in alive:
            try:
                process.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=grace_s)
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        self._group = None
        self.address = None

    def __enter__(self) -> LocalRayHead:
        self.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()
