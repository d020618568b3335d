"""Serve the viewer on 127.0.0.1 at a free port and print its URL."""

from __future__ import annotations

import socket
import threading
import webbrowser
from pathlib import Path

import uvicorn

from ajet_core.viewer.app import create_app


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(run_dirs: list[Path], port: int | None = None, open_browser: bool = True) -> None:
    app = create_app(run_dirs)  # validates the folders before anything is printed
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/"
    print(f"AgentJet viewer for {', '.join(str(d) for d in run_dirs)}", flush=True)
    print(f"open {url}  (Ctrl-C stops it)", flush=True)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
