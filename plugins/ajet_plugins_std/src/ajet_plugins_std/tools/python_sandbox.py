"""Run model-written Python in a bubblewrap sandbox, with limits, and return what it printed.

The agent tutorials give this to the model as a tool. Isolation comes from bubblewrap (Debian's
``bubblewrap`` package; ``scripts/install_sandbox.sh`` installs it), not from Python-level
blocks, which C extensions and ``importlib.reload`` walk around:

* new user, PID, mount, network, IPC, UTS and cgroup namespaces (``--unshare-all``), and no
  further user namespaces inside (``--disable-userns``): no ``setns`` back into the parent's
  network, no interface but a downed loopback, no abstract Unix sockets of the host;
* an unprivileged uid inside *and* outside: run as root, we drop to ``nobody`` before starting
  bubblewrap, so even an escape lands as nobody, and the process limit counts nobody's processes;
* a read-only root holding only ``/usr`` and the Python installation (no ``/etc``, ``/root``,
  ``/home`` or run folder), a private size-capped ``/tmp`` and ``/dev/shm`` (the rest of
  ``/dev`` read-only: no unbounded tmpfs to fill), and a fresh ``/proc`` that shows
  only the sandbox's own processes (no parent environment, no ``/proc/<ppid>/cwd``);
* rlimits on processes (``RLIMIT_NPROC``), file size (``RLIMIT_FSIZE``), address space per
  process (``RLIMIT_AS``) and CPU seconds; a watchdog sums the memory of every process in the
  sandbox against ``memory_mb`` (forking does not multiply the budget);
* output is read as a stream and the sandbox is killed once it passes ``output_limit``;
* the timeout kills the whole PID namespace: double forks and ``setsid`` do not outlive it.

Without a working bubblewrap, :func:`run_python` refuses (:class:`SandboxUnavailable`, saying how
to install it) unless the caller opts into running code unsandboxed, with
``allow_unsandboxed=True`` or ``AJET_SANDBOX=unsandboxed`` in the environment.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import shutil
import signal
import stat
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

NOBODY = 65534
UNSANDBOXED_ENV = "AJET_SANDBOX"
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; in this project "
    "scripts/install_sandbox.sh), or opt in to running model code unsandboxed with "
    f"{UNSANDBOXED_ENV}=unsandboxed or run_python(..., allow_unsandboxed=True)"
)
# The program bubblewrap runs: the model's code arrives on stdin, so its size is not bounded by
# the argument limit and its tracebacks name '<code>'.
_RUNNER = (
    "import sys\nsys.path.extend({paths!r})\n"
    "exec(compile(sys.stdin.read(), '<code>', 'exec'), {{'__name__': '__main__'}})"
)
_WATCH_SECONDS = 0.05


class SandboxUnavailable(RuntimeError):
    """No isolation is available and the caller did not opt into unsandboxed execution."""


@dataclass
class SandboxResult:
    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool
    isolation: str  # "bubblewrap" or "none" (unsandboxed, opted into)
    output_truncated: bool = False
    memory_exceeded: bool = False

    @property
    def ok(self) -> bool:
        return (
            self.exit_code == 0
            and not self.timed_out
            and not self.output_truncated
            and not self.memory_exceeded
        )

    def as_tool_output(self, limit: int = 2000) -> str:
        """What the model sees: output, or a clean error line."""
        if self.timed_out:
            return "Error: the code ran past its time limit and was stopped."
        if self.memory_exceeded:
            return "Error: the code used more memory than allowed and was stopped."
        if self.output_truncated:
            return "Error: the code printed more output than allowed and was stopped."
        text = self.stdout if self.ok else (self.stderr.strip().splitlines() or ["Error"])[-1]
        if not self.ok and not text.startswith("Error"):
            text = f"Error: {text}"
        return text[:limit] if text else "(no output; use print() to show results)"


# ------------------------------------------------------------------------------ the sandbox


def _world_reachable(path: str) -> bool:
    """True when ``nobody`` can reach ``path``: every folder above it searchable by others."""
    current = Path(path)
    for folder in [current, *current.parents]:
        try:
            mode = folder.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return True


def _interpreter() -> str:
    """A Python of this version that ``nobody`` can run (pyenv under /root cannot be)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    base = getattr(sys, "_base_executable", None) or sys.executable
    for candidate in (os.path.realpath(base), f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if os.path.isfile(candidate) and _world_reachable(candidate):
            return candidate
    raise SandboxUnavailable(
        f"no {version} interpreter readable by an unprivileged user ({base} is not); install "
        f"Debian's {version} package, or {INSTALL_HINT.split(', or ')[1]}"
    )


def _library_paths() -> list[str]:
    """This environment's site-packages (read-only inside), so numpy and friends import."""
    paths = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    return sorted(p for p in paths if os.path.isdir(p) and _world_reachable(p))


def _bubblewrap_argv(interpreter: str, libraries: list[str], tmp_bytes: int) -> list[str]:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed; {INSTALL_HINT}")
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent"]
    argv += ["--new-session", "--uid", str(NOBODY), "--gid", str(NOBODY), "--hostname", "sandbox"]
    argv += ["--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp"]
    argv += ["--setenv", "PYTHONHASHSEED", "0", "--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{link}"):
            argv += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            argv += ["--ro-bind", f"/{link}", f"/{link}"]
    prefix = str(Path(interpreter).parent.parent)
    for path in [prefix, *libraries]:
        if not path.startswith("/usr/"):
            argv += ["--ro-bind", path, path]
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    # /dev is a tmpfs of its own with no size limit, /dev/shm a writable folder in it: files
    # there are host memory the process watchdog never sees. /dev/shm gets /tmp's cap, and the
    # rest of /dev is read-only (its device nodes still work).
    argv += ["--size", str(tmp_bytes), "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]
    argv += ["--dir", "/tmp/work", "--chdir", "/tmp/work", "--remount-ro", "/"]
    return [*argv, "--", interpreter, "-I", "-c", _RUNNER.format(paths=libraries)]


@dataclass
class _Limits:
    timeout: float
    memory_bytes: int
    max_processes: int
    max_file_bytes: int


def _child_setup(limits: _Limits, drop_to_nobody: bool):
    def apply() -> None:  # pragma: no cover - runs in the child between fork and exec
        os.setsid()  # its own group: the deadline kills bubblewrap and all it started
        cpu = max(1, int(limits.timeout) + 1)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.max_file_bytes, limits.max_file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
        if drop_to_nobody:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)

    return apply


# Probe results by bubblewrap path (None: not on PATH), so a changed PATH is probed afresh.
_PROBES: dict[str | None, str | None] = {}


async def _probe_bubblewrap() -> str | None:
    """None when a trivial program runs in the sandbox, else why not (checked once per bwrap)."""
    bwrap = shutil.which("bwrap")
    if bwrap not in _PROBES:
        try:
            limits = _Limits(30.0, 256 << 20, 32, 1 << 20)
            result = await _execute("print('ok')", limits, 1000, True)
            _PROBES[bwrap] = (
                None
                if result.stdout.strip() == "ok"
                else f"bubblewrap could not start a sandbox here: {result.stderr.strip()[-300:]}"
            )
        except SandboxUnavailable as exc:
            _PROBES[bwrap] = str(exc)
    return _PROBES[bwrap]


def bubblewrap_available() -> bool:
    return asyncio.run(_probe_bubblewrap()) is None


async def run_python(
    code: str,
    *,
    timeout: float = 5.0,
    memory_mb: int = 256,
    output_limit: int = 64_000,
    max_processes: int = 32,
    max_file_mb: int = 16,
    allow_unsandboxed: bool = False,
) -> SandboxResult:
    """Run ``code`` and return what it printed. Never raises for problems in the code itself;
    raises :class:`SandboxUnavailable` when it cannot isolate the code and was not allowed to
    run it unsandboxed."""
    limits = _Limits(timeout, memory_mb << 20, max_processes, max_file_mb << 20)
    problem = await _probe_bubblewrap()
    if problem is None:
        return await _execute(code, limits, output_limit, True)
    if not (allow_unsandboxed or os.environ.get(UNSANDBOXED_ENV) == "unsandboxed"):
        raise SandboxUnavailable(
            f"refusing to run model-written code without isolation: {problem}; {INSTALL_HINT}"
        )
    log.warning("running model-written code WITHOUT a sandbox (opted in): %s", problem)
    return await _execute(code, limits, output_limit, False)


async def _execute(code: str, limits: _Limits, output_limit: int, sandboxed: bool) -> SandboxResult:
    with tempfile.TemporaryDirectory(prefix="ajet-sandbox-") as workdir:
        if sandboxed:
            libraries = _library_paths()
            argv = _bubblewrap_argv(_interpreter(), libraries, 4 * limits.max_file_bytes)
            cwd = "/"
        else:
            argv = [sys.executable, "-I", "-c", _RUNNER.format(paths=[])]
            cwd = workdir
            os.chmod(workdir, 0o777)
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"},
            # Unsandboxed runs keep our uid: the interpreter may not be runnable by nobody.
            preexec_fn=_child_setup(limits, drop_to_nobody=sandboxed and os.geteuid() == 0),
        )
        return await _supervise(process, code, limits, output_limit, sandboxed)


async def _supervise(
    process: asyncio.subprocess.Process,
    code: str,
    limits: _Limits,
    output_limit: int,
    sandboxed: bool,
) -> SandboxResult:
    state = {"truncated": False, "memory": False}

    def kill() -> None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    async def pump(stream: asyncio.StreamReader, buffer: bytearray) -> None:
        # Stream with a cap: a program printing gigabytes is stopped, not buffered.
        while chunk := await stream.read(65536):
            room = output_limit - len(buffer)
            buffer += chunk[: max(room, 0)]
            if len(chunk) > room:
                state["truncated"] = True
                kill()

    async def watch_memory() -> None:
        import psutil

        try:
            root = psutil.Process(process.pid)
            while process.returncode is None:
                total = 0
                for member in [root, *root.children(recursive=True)]:
                    try:
                        total += member.memory_info().rss
                    except psutil.Error:
                        pass
                if total > limits.memory_bytes:
                    state["memory"] = True
                    kill()
                    return
                await asyncio.sleep(_WATCH_SECONDS)
        except psutil.Error:
            return

    async def feed() -> None:
        assert process.stdin is not None
        try:
            process.stdin.write(code.encode())
            await process.stdin.drain()
            process.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass

    stdout, stderr = bytearray(), bytearray()
    assert process.stdout is not None and process.stderr is not None
    watcher = asyncio.ensure_future(watch_memory())
    work = asyncio.gather(feed(), pump(process.stdout, stdout), pump(process.stderr, stderr))
    timed_out = False
    try:
        await asyncio.wait_for(asyncio.shield(work), limits.timeout)
    except asyncio.TimeoutError:
        timed_out = True
        kill()
        # In the sandbox the kill ends the PID namespace and so every writer of the pipes;
        # unsandboxed, a process that escaped the group may keep them open: stop reading.
        await asyncio.wait({work}, timeout=2.0)
        work.cancel()
    await process.wait()
    watcher.cancel()
    return SandboxResult(
        stdout=stdout.decode(errors="replace"),
        stderr=stderr.decode(errors="replace"),
        exit_code=None if timed_out else process.returncode,
        timed_out=timed_out,
        isolation="bubblewrap" if sandboxed else "none",
        output_truncated=state["truncated"],
        memory_exceeded=state["memory"],
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
