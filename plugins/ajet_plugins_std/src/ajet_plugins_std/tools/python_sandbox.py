"""Run model-written Python in a subprocess with time and memory limits and no network.

The agent tutorials give this to the model as a tool. Isolation, strongest first:

* a fresh network namespace (``unshare(CLONE_NEWNET)``, as root or with user namespaces): the
  child has no interface but a downed loopback, so no connection can leave it;
* otherwise a prelude that replaces ``socket.socket`` before the code runs (weaker: C extensions
  could bypass it), reported in ``SandboxResult.network_isolation``;
* ``RLIMIT_AS`` caps memory, ``RLIMIT_CPU`` caps CPU seconds, a wall-clock timeout kills the
  process group, and Python runs in isolated mode (``-I``: no user site, no env vars) in a
  temporary working directory.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import resource
import signal
import sys
import tempfile
from dataclasses import dataclass

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000

# Runs before the user's code when no network namespace could be made.
_SOCKET_BLOCKER = """
import socket as _s
class _NoNetwork(_s.socket):
    def __init__(self, *a, **k):
        raise PermissionError("network access is disabled in this sandbox")
_s.socket = _NoNetwork
def _no_connection(*a, **k):
    raise PermissionError("network access is disabled in this sandbox")
_s.create_connection = _no_connection
del _s, _NoNetwork, _no_connection
"""


@dataclass
class SandboxResult:
    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool
    network_isolation: str  # "namespace" or "socket_blocker"

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def as_tool_output(self, limit: int = 2000) -> str:
        """What the model sees: output, or a clean error line."""
        if self.timed_out:
            return "Error: the code ran past its time limit and was stopped."
        text = self.stdout if self.ok else (self.stderr.strip().splitlines() or ["Error"])[-1]
        if not self.ok and not text.startswith("Error"):
            text = f"Error: {text}"
        return text[:limit] if text else "(no output; use print() to show results)"


def _unshare(flags: int) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.unshare(flags) == 0


def _network_namespace_available() -> bool:
    """Probe once in a throwaway child, so the parent's namespace is never touched."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os._exit(0 if (_unshare(CLONE_NEWNET) or _unshare(CLONE_NEWUSER | CLONE_NEWNET)) else 1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


_NAMESPACE_AVAILABLE: bool | None = None


def namespace_isolation_available() -> bool:
    global _NAMESPACE_AVAILABLE
    if _NAMESPACE_AVAILABLE is None:
        _NAMESPACE_AVAILABLE = sys.platform.startswith("linux") and _network_namespace_available()
    return _NAMESPACE_AVAILABLE


def _limit_child(memory_bytes: int, cpu_seconds: int, use_namespace: bool):
    def apply() -> None:  # pragma: no cover - runs in the child between fork and exec
        os.setsid()  # own process group: the timeout kills children the code spawns too
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        if use_namespace and not (_unshare(CLONE_NEWNET) or _unshare(CLONE_NEWUSER | CLONE_NEWNET)):
            os._exit(97)

    return apply


async def run_python(
    code: str,
    *,
    timeout: float = 5.0,
    memory_mb: int = 256,
    output_limit: int = 64_000,
) -> SandboxResult:
    """Run ``code`` and return what it printed. Never raises for problems in the code itself."""
    use_namespace = namespace_isolation_available()
    program = code if use_namespace else _SOCKET_BLOCKER + "\n" + code
    with tempfile.TemporaryDirectory(prefix="ajet-sandbox-") as workdir:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-c",
            program,
            cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"},
            preexec_fn=_limit_child(
                memory_mb * 1024 * 1024, max(1, int(timeout) + 1), use_namespace
            ),
        )
        timed_out = False
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
        except asyncio.TimeoutError:
            timed_out = True
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            stdout, stderr = await process.communicate()
    return SandboxResult(
        stdout=stdout.decode(errors="replace")[:output_limit],
        stderr=stderr.decode(errors="replace")[:output_limit],
        exit_code=None if timed_out else process.returncode,
        timed_out=timed_out,
        network_isolation="namespace" if use_namespace else "socket_blocker",
    )


# The OpenAI tool definition the tutorials pass in ``tools=[...]``.
PYTHON_TOOL = {
    "type": "function",
    "function": {
        "name": "run_python",
        "description": "Run Python code and return what it prints. Use print() for results.",
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "the Python code to run"}},
            "required": ["code"],
        },
    },
}
