"""Every sandbox escape the issue-18 probe found, tried again: each must fail to escape.

Run as root on the project's machines (the probe's setting); the sandbox drops to nobody itself.
Each test runs attacker code through the real ``run_python`` (bubblewrap) and checks the host
side: a listener that must not be reached, a secret that must not leak, a process that must stay
alive, a file that must not appear.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sysconfig
import threading
import time
from pathlib import Path

import psutil
import pytest
from ajet_plugins_std.tools import python_sandbox
from ajet_plugins_std.tools.python_sandbox import SandboxUnavailable, run_python

pytestmark = pytest.mark.skipif(
    not python_sandbox.bubblewrap_available(),
    reason="bubblewrap cannot run here; scripts/install_sandbox.sh installs it",
)


def run(code: str, **kwargs):
    result = asyncio.run(run_python(code, **kwargs))
    assert result.isolation == "bubblewrap"
    return result


class Listener:
    """A host socket that records whether anything connected to it."""

    def __init__(self, family=socket.AF_INET, address=("127.0.0.1", 0)) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.accepted += 1
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


SETNS = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
entered = []
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            fd = os.open(f'/proc/{pid}/ns/net', os.O_RDONLY)
            if libc.setns(fd, 0x40000000) == 0:
                entered.append(pid)
        except OSError:
            pass
print('entered', entered)
"""


def test_setns_into_the_parents_network_and_connecting_to_localhost_fails():
    listener = Listener()
    port = listener.sock.getsockname()[1]
    code = (
        SETNS
        + f"""
import socket
for make in (lambda: socket.create_connection(('127.0.0.1', {port}), timeout=2),):
    try:
        make(); print('CONNECTED')
    except OSError as exc:
        print('refused', exc)
"""
    )
    try:
        result = run(code, timeout=10)
    finally:
        listener.close()
    assert "CONNECTED" not in result.stdout and listener.accepted == 0, result


def test_raw_socket_module_and_reloaded_socket_cannot_connect_either():
    listener = Listener()
    port = listener.sock.getsockname()[1]
    code = f"""
import _socket, importlib, socket
makers = [('_socket', lambda: _socket.socket()),
          ('reload', lambda: importlib.reload(socket).socket())]
for how, make in makers:
    try:
        s = make(); s.settimeout(2); s.connect(('127.0.0.1', {port})); print('CONNECTED', how)
    except OSError as exc:
        print(how, 'refused', exc)
"""
    try:
        result = run(code, timeout=10)
    finally:
        listener.close()
    assert "CONNECTED" not in result.stdout and listener.accepted == 0, result


def test_host_unix_sockets_are_out_of_reach(tmp_path):
    path = tmp_path / "host.sock"
    by_path = Listener(socket.AF_UNIX, str(path))
    abstract = Listener(socket.AF_UNIX, "\0ajet-sandbox-test")
    code = f"""
import socket
for address in [{str(path)!r}, '\\0ajet-sandbox-test']:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(address); print('CONNECTED', repr(address))
    except OSError as exc:
        print('refused', exc)
"""
    try:
        result = run(code, timeout=10)
    finally:
        by_path.close()
        abstract.close()
    assert "CONNECTED" not in result.stdout and by_path.accepted == abstract.accepted == 0


def test_the_parents_environment_and_secrets_do_not_leak(monkeypatch):
    monkeypatch.setenv("AJET_TEST_SECRET", "s3cr3t-value")
    code = """
import os
print(dict(os.environ))
for pid in os.listdir('/proc'):
    if pid.isdigit() or pid == 'self':
        for name in ('environ', 'cmdline'):
            try:
                print(pid, name, open(f'/proc/{pid}/{name}', 'rb').read())
            except OSError as exc:
                print(pid, name, exc)
"""
    result = run(code, timeout=10)
    assert result.ok, result.stderr
    assert "s3cr3t-value" not in result.stdout + result.stderr


def test_host_files_and_the_run_folder_cannot_be_read():
    code = """
import os
for path in ['/etc/passwd', '/etc/shadow', '/root', '/work/main/pyproject.toml']:
    try:
        print(path, open(path).read()[:50] if os.path.isfile(path) else os.listdir(path))
    except OSError as exc:
        print(path, 'denied', type(exc).__name__)
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            print(pid, 'cwd', os.listdir(f'/proc/{pid}/cwd'))
        except OSError as exc:
            print(pid, 'cwd denied', exc)
"""
    result = run(code, timeout=10)
    assert "root:" not in result.stdout  # /etc/passwd's first line
    assert "/etc/passwd denied" in result.stdout and "/root denied" in result.stdout
    assert "/work/main/pyproject.toml denied" in result.stdout and "[project]" not in result.stdout
    assert "cwd ['" not in result.stdout  # no process's working folder shows any file


def test_site_packages_and_the_root_are_read_only():
    target = Path(sysconfig.get_paths()["purelib"]) / "ajet_sandbox_escape.pth"
    code = f"""
for path in [{str(target)!r}, '/usr/lib/escape.txt', '/escape.txt', '/tmp/work/ok.txt']:
    try:
        open(path, 'w').write('import os'); print('WROTE', path)
    except OSError as exc:
        print('denied', path, type(exc).__name__)
"""
    result = run(code, timeout=10)
    assert not target.exists()
    assert "WROTE /tmp/work/ok.txt" in result.stdout  # the private /tmp is writable
    assert result.stdout.count("WROTE") == 1, result.stdout


def test_killing_the_parent_or_any_host_process_fails():
    bystander = subprocess.Popen(["sleep", "120"])
    code = f"""
import os, signal
for pid in [os.getppid(), 1, {os.getpid()}, {bystander.pid}]:
    try:
        os.kill(pid, signal.SIGKILL); print('killed', pid)
    except OSError as exc:
        print('cannot kill', pid, type(exc).__name__)
print('still here')
"""
    try:
        result = run(code, timeout=10)
        assert bystander.poll() is None, "the sandbox killed a host process"
    finally:
        bystander.kill()
        bystander.wait()
    assert result.exit_code is not None  # the sandbox itself came back with a result


def _stray_sleepers(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if proc.info["cmdline"] and marker in proc.info["cmdline"]:
            found.append(proc)
    return found


def test_double_fork_and_setsid_do_not_outlive_the_timeout():
    marker = "4321.5"
    code = f"""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv('/usr/bin/sleep', ['sleep', '{marker}'])
    os._exit(0)
time.sleep(60)
"""
    result = run(code, timeout=2)
    assert result.timed_out
    # The kernel tears the PID namespace down as its init dies: wait for that, boundedly.
    for _ in range(100):
        if not _stray_sleepers(marker):
            break
        time.sleep(0.1)
    assert not _stray_sleepers(marker)


def test_memory_is_capped_across_forks():
    code = """
import os, time
children = []
for i in range(6):
    pid = os.fork()
    if pid == 0:
        block = b'x' * (100 << 20)   # written, so it is resident
        time.sleep(3)
        print('held', i, len(block), flush=True)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
"""
    result = run(code, timeout=20, memory_mb=256)
    assert result.stdout.count("held") < 3, result  # 256 MB hold at most two 100 MB blocks
    assert result.memory_exceeded and not result.ok
    assert "memory" in result.as_tool_output()


def test_the_number_of_processes_is_capped():
    code = """
import os, time
made = 0
for _ in range(200):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(2); os._exit(0)
    made += 1
print('forked', made)
"""
    result = run(code, timeout=20, max_processes=16)
    made = int(result.stdout.split("forked")[1].split()[0])
    assert made < 16, result.stdout


def test_output_is_capped_while_streaming_not_after_buffering():
    code = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"
    before = psutil.Process().memory_info().rss
    result = run(code, timeout=30, output_limit=64_000)
    assert result.output_truncated and len(result.stdout) == 64_000
    assert psutil.Process().memory_info().rss - before < 200 << 20
    assert "more output" in result.as_tool_output()


def test_file_size_is_capped():
    code = "open('/tmp/work/big', 'wb').write(b'x' * (40 << 20))\nprint('wrote')"
    result = run(code, timeout=10, max_file_mb=8)
    assert "wrote" not in result.stdout and not result.ok


def test_without_isolation_model_code_is_refused_unless_opted_in(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on PATH
    monkeypatch.delenv("AJET_SANDBOX", raising=False)
    with pytest.raises(SandboxUnavailable, match="bubblewrap.*AJET_SANDBOX=unsandboxed"):
        asyncio.run(run_python("print(1)"))
    opted = asyncio.run(run_python("print(1)", allow_unsandboxed=True))
    assert opted.isolation == "none" and opted.stdout.strip() == "1"


def test_shared_memory_and_dev_cannot_hold_more_than_the_cap():
    """/dev is a tmpfs of bubblewrap's own: without limits, 80 files of 16 MB in /dev/shm grew
    the host's shared memory by 1.28 GB past a 256 MB cap. /dev/shm now has /tmp's size limit,
    and the rest of /dev is read-only (writing to its device nodes still works)."""
    code = """
import os
written = 0
try:
    for i in range(80):
        with open(f'/dev/shm/fill{i}', 'wb') as handle:
            for _ in range(16):
                handle.write(b'x' * (1 << 20))
        written += 16
except OSError as exc:
    print('stopped', type(exc).__name__)
print('shm MB', written)
for path in ['/dev/fill', '/dev/null']:
    try:
        open(path, 'w').write('x'); print('WROTE', path)
    except OSError as exc:
        print('denied', path, type(exc).__name__)
"""
    result = run(code, timeout=30, memory_mb=256, max_file_mb=16)
    written = int(result.stdout.split("shm MB")[1].split()[0])
    assert written <= 64, result.stdout  # /tmp's cap: 4 x max_file_mb
    assert "stopped OSError" in result.stdout
    assert "denied /dev/fill" in result.stdout and "WROTE /dev/null" in result.stdout
