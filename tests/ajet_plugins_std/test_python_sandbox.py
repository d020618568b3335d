"""The tutorials' Python tool: output, errors, time and memory limits, no network."""

from __future__ import annotations

import asyncio
import socket
import threading

from ajet_plugins_std.tools.python_sandbox import run_python


def run(code: str, **kwargs):
    return asyncio.run(run_python(code, **kwargs))


def test_prints_come_back():
    result = run("print(sum(range(101)))")
    assert result.ok and result.stdout.strip() == "5050"
    assert result.as_tool_output().strip() == "5050"


def test_exceptions_become_a_clean_error_line():
    result = run("1/0")
    assert not result.ok and result.exit_code == 1
    assert result.as_tool_output() == "Error: ZeroDivisionError: division by zero"


def test_timeout_kills_the_code_and_says_so():
    result = run("import time\nwhile True: time.sleep(0.01)", timeout=1.0)
    assert result.timed_out and result.exit_code is None
    assert "time limit" in result.as_tool_output()


def test_memory_limit_stops_a_hog():
    result = run("x = bytearray(2_000_000_000)\nprint('allocated')", memory_mb=128)
    assert not result.ok and "allocated" not in result.stdout
    assert "MemoryError" in result.stderr


def test_no_network_even_to_a_local_server():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted: list[bool] = []

    def accept() -> None:
        server.settimeout(3)
        try:
            server.accept()
            accepted.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    code = (
        "import socket\n"
        f"s = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        "print('connected')"
    )
    result = run(code, timeout=4)
    thread.join()
    server.close()
    assert "connected" not in result.stdout and not accepted
    assert result.isolation == "bubblewrap"
