"""Run an ``ajet`` command against the apps: start the env server, run the command, stop it.

    python tutorial/example_appworld/run.py                       # ajet train with appworld.yaml
    python tutorial/example_appworld/run.py rollout --conf tutorial/example_appworld/appworld.yaml \
        --num-tasks 2
    python tutorial/example_appworld/run.py eval --conf ... model.path=.cache/smollm2

Everything after ``run.py`` is the ``ajet`` command line; ``task_reader.url`` is added, pointing
at the server this script started (on a socket it bound itself, so two runs never race for a
port). Tasks come from ``--data`` (default: this folder's data/, made by ``make_data.py`` on
first use). The server stops when the command ends, however it ends.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent


def wait_until_up(url: str, server: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll /health until the server answers (a readiness signal, not a fixed wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"appworld server exited with {server.returncode} before serving")
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"appworld server at {url} did not answer /health within {timeout:g} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--max-api-calls", type=int, default=40)
    # Idle seconds before the server drops an instance: long enough for a slow CPU episode.
    parser.add_argument("--instance-ttl", type=float, default=3600.0)
    args, ajet_args = parser.parse_known_args(argv)
    if not ajet_args:
        ajet_args = ["train", "--conf", str(HERE / "appworld.yaml")]
    if not (args.data / "train.jsonl").is_file():
        subprocess.run(
            [sys.executable, str(HERE / "make_data.py"), "--out", str(args.data)], check=True
        )

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    server = subprocess.Popen(
        [sys.executable, str(HERE / "appworld_server.py"), "--data", str(args.data)]
        + ["--max-api-calls", str(args.max_api_calls), "--instance-ttl", str(args.instance_ttl)]
        + ["--fd", str(listener.fileno())],
        pass_fds=[listener.fileno()],
    )
    listener.close()  # the server holds its own copy of the socket
    try:
        wait_until_up(url, server)
        # Next to the user's own KEY=VALUE overrides: argparse takes them as one run of words.
        overrides = [i for i, a in enumerate(ajet_args) if "=" in a and not a.startswith("-")]
        at = overrides[-1] + 1 if overrides else len(ajet_args)
        ajet_args = [*ajet_args[:at], f"task_reader.url={url}", *ajet_args[at:]]
        command = [sys.executable, "-m", "ajet_core.cli.main", *ajet_args]
        return subprocess.run(command).returncode
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
