"""What the gateway adds per LLM call, next to a bare ASGI endpoint, in the same run.

    .venvs/main/bin/python benchmarks/gateway.py [--seconds 5] [--concurrency 1 64 256]

Two servers, each in its own process under uvicorn on 127.0.0.1, one after the other:

- ``bare``: a Starlette route that parses the JSON body and returns a fixed chat completion
  (the ceiling of any Python ASGI endpoint on this machine);
- ``ajet``: the real gateway with a zero-cost engine (replies instantly with a fixed text), so
  everything measured is the gateway: key lookup, validation, chat-template rendering with prefix
  reuse, tool parsing, recording and the response.

A load generator in a third process runs N concurrent episodes; each episode is a multi-turn
conversation (the reply is appended and sent back, 5 turns) with its own API key; then the
episode is closed (its keys revoked) and a new one opened, as the rollout runner does, through
a small side route that is not counted. Each client keeps one keep-alive connection. Printed
per N: calls/s for both servers and their ratio, client round-trip p50, and the gateway's added
latency p50/p99 measured inside the server (handler time minus engine time, from
``GET /ajet/stats``; over all rounds). Targets: added p50 < 2 ms; throughput at 64 episodes
>= 0.8x bare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPLY = "I will move left now, because the hole is on the right. <action>Left</action>"
SYSTEM = "You play FrozenLake. Reach G, avoid H. Answer with <action>Left|Right|Up|Down</action>."
TURNS = 5


# ------------------------------------------------------------------------------- servers


def _tokenizer() -> Any:
    try:
        from ajet_backbone_debug.models.tiny import ensure_tiny_model
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(ensure_tiny_model())
    except ImportError:
        from ajet_core.chat.testing import build_chatml_tokenizer

        return build_chatml_tokenizer()


def serve(kind: str, ready_file: str) -> None:
    import uvicorn

    if kind == "bare":
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def completions(request: Request) -> JSONResponse:
            body = json.loads(await request.body())
            return JSONResponse(
                {
                    "id": "chatcmpl-bare",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model") or "bare",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": REPLY},
                            "finish_reason": "stop",
                            "logprobs": None,
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            )

        async def new_episode(request: Request) -> JSONResponse:
            return JSONResponse({"key": "bare"})

        app = Starlette(
            routes=[
                Route("/v1/chat/completions", completions, methods=["POST"]),
                Route("/bench/episode", new_episode, methods=["POST"]),
            ]
        )
    else:
        from ajet_core.config.models import AjetConfig
        from ajet_core.gateway import Gateway
        from ajet_core.gateway.scripted_engine import ScriptedEngine
        from ajet_core.toolparsers.hermes import HermesToolParser

        config = AjetConfig.model_validate({"rollout": {"max_tokens_per_episode": 10**9}})
        gateway = Gateway(
            ScriptedEngine(_tokenizer(), REPLY, max_model_len=10**6),
            config,
            mode="rollout",
            tool_parser=HermesToolParser(),
        )
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Mount, Route

        # Like a rollout runner: each conversation is an episode, opened with a fresh key and
        # closed (keys revoked, calls handed over) when the next one starts.
        open_episodes: dict[str, Any] = {}
        counter = iter(range(10**9))

        async def new_episode(request: Request) -> JSONResponse:
            previous = (await request.json()).get("previous")
            if previous in open_episodes:
                open_episodes.pop(previous).close()
            handle = gateway.open_episode(f"bench-{next(counter)}")
            key = gateway.issue_key(handle.session, "agent")
            open_episodes[key] = handle
            return JSONResponse({"key": key})

        app = Starlette(
            routes=[
                Route("/bench/episode", new_episode, methods=["POST"]),
                Mount("/", app=gateway.app),
            ]
        )

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=4096,
    )
    server = uvicorn.Server(config)

    async def main() -> None:
        import gc

        gc.freeze()  # imported modules and the tokenizer never die: keep them out of GC scans
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        Path(ready_file).write_text(json.dumps({"port": port}))
        await task

    asyncio.run(main())


# ------------------------------------------------------------------------- load generator


class _Connection:
    """A minimal keep-alive HTTP/1.1 client: the load generator must cost far less than the
    servers it measures (httpx's pool costs more per request than a bare Starlette endpoint)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.key = ""
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def new_episode(self) -> None:
        status, reply = await self.post({"previous": self.key}, "/bench/episode")
        self.key = reply["key"]

    async def post(
        self, payload: dict[str, Any], path: str = "/v1/chat/completions"
    ) -> tuple[int, dict[str, Any]]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        body = json.dumps(payload).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAuthorization: Bearer "
            f"{self.key}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        data = await self.reader.readexactly(length)
        return int(status_line.split()[1]), json.loads(data)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def load(port: int, concurrency: int, seconds: float) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        latencies: list[float] = []
        errors = 0
        deadline = time.perf_counter() + seconds

        async def episode(index: int) -> None:
            nonlocal errors
            connection = _Connection(port)
            try:
                while time.perf_counter() < deadline:
                    await connection.new_episode()
                    messages = [
                        {"role": "system", "content": SYSTEM},
                        {
                            "role": "user",
                            "content": f"Episode {index}. Map:\nSFFF\nFHFH\nFFFH\nHFFG",
                        },
                    ]
                    for turn in range(TURNS):
                        if time.perf_counter() >= deadline:
                            return
                        started = time.perf_counter()
                        status, reply = await connection.post(
                            {"model": "policy", "messages": messages}
                        )
                        latencies.append(time.perf_counter() - started)
                        if status != 200:
                            errors += 1
                            return
                        messages.append(reply["choices"][0]["message"])
                        messages.append(
                            {"role": "user", "content": f"You moved. Reward 0. Turn {turn}."}
                        )
            finally:
                connection.close()

        started = time.perf_counter()
        await asyncio.gather(*(episode(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
        latencies.sort()
        return {
            "calls": len(latencies),
            "seconds": elapsed,
            "errors": errors,
            "calls_per_s": len(latencies) / elapsed,
            "client_p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else None,
        }

    return asyncio.run(main())


# ----------------------------------------------------------------------------- driver


def _start(kind: str, tmp: Path) -> tuple[subprocess.Popen, dict[str, Any]]:
    ready = tmp / f"{kind}.json"
    ready.unlink(missing_ok=True)
    process = subprocess.Popen([sys.executable, __file__, "serve", kind, str(ready)])
    deadline = time.time() + 300
    while not ready.exists():
        if process.poll() is not None or time.time() > deadline:
            raise SystemExit(f"the {kind} server did not start")
        time.sleep(0.05)
    time.sleep(0.1)
    return process, json.loads(ready.read_text())


def _load_in_child(port: int, concurrency: int, seconds: float) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "load", str(port), str(concurrency), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def _stats(port: int, reset: bool = False) -> dict[str, Any]:
    import httpx

    return httpx.get(f"http://127.0.0.1:{port}/ajet/stats" + ("?reset=1" if reset else "")).json()


def drive(seconds: float, levels: list[int], rounds: int, tmp: Path) -> list[dict[str, Any]]:
    """Both servers run at once (an idle one costs nothing); each level alternates bare and
    ajet ``rounds`` times and keeps each one's best round, so a burst of load from elsewhere on
    the machine does not decide the ratio."""
    servers = {kind: _start(kind, tmp) for kind in ("bare", "ajet")}
    rows = []
    try:
        for level in levels:
            best: dict[str, dict[str, Any]] = {}
            for _, info in servers.values():
                _load_in_child(info["port"], level, min(1.0, seconds))  # warm-up
            _stats(servers["ajet"][1]["port"], reset=True)
            for _ in range(rounds):
                for kind, (_, info) in servers.items():
                    result = _load_in_child(info["port"], level, seconds)
                    if kind not in best or result["calls_per_s"] > best[kind]["calls_per_s"]:
                        best[kind] = result
            stats = _stats(servers["ajet"][1]["port"])
            best["ajet"]["overhead_ms"] = stats["overhead_ms"]
            best["ajet"]["drift_fallbacks"] = stats["drift_fallbacks"]
            rows.append(
                {
                    "episodes": level,
                    "bare": best["bare"],
                    "ajet": best["ajet"],
                    "ratio": best["ajet"]["calls_per_s"] / best["bare"]["calls_per_s"],
                }
            )
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait()
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "serve":
        serve(argv[1], argv[2])
        return 0
    if argv and argv[0] == "load":
        print(json.dumps(load(int(argv[1]), int(argv[2]), float(argv[3]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternating rounds per level (best kept)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        rows = drive(args.seconds, args.concurrency, args.rounds, Path(tmp))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
        f"{args.seconds:g} s x {args.rounds} rounds per level (best kept); servers and load "
        "generator in separate processes"
    )
    header = (
        f"{'episodes':>8}{'bare calls/s':>14}{'ajet calls/s':>14}{'ratio':>8}"
        f"{'bare rtt p50':>14}{'ajet rtt p50':>14}{'added p50':>11}{'added p99':>11}{'errors':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        bare, ajet = row["bare"], row["ajet"]
        print(
            f"{row['episodes']:>8}{bare['calls_per_s']:>14.0f}{ajet['calls_per_s']:>14.0f}{row['ratio']:>7.2f}x"
            f"{bare['client_p50_ms']:>11.2f} ms{ajet['client_p50_ms']:>11.2f} ms"
            f"{ajet['overhead_ms']['p50']:>8.3f} ms{ajet['overhead_ms']['p99']:>8.3f} ms"
            f"{bare['errors'] + ajet['errors']:>8}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
