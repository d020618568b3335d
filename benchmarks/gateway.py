"""What the gateway adds per LLM call, next to a bare ASGI endpoint, in the same run.

    .venvs/main/bin/python benchmarks/gateway.py [--seconds 5] [--concurrency 1 64 256]

Two servers, each in its own process under uvicorn on 127.0.0.1, one after the other:

- ``bare``: a Starlette route that parses the JSON body and returns a fixed chat completion
  (the ceiling of any Python ASGI endpoint on this machine);
- ``ajet``: the real gateway with a zero-cost engine (replies instantly with a fixed text), so
  everything measured is the gateway: key lookup, validation, chat-template rendering with prefix
  reuse, tool parsing, recording and the response.

A load generator in a third process runs N concurrent episodes; each episode is a multi-turn
conversation (the reply is appended and sent back, 5 turns, then a new conversation) with its
own API key. Printed per N: calls/s for both servers and their ratio, client round-trip p50,
and the gateway's added latency p50/p99 measured inside the server (handler time minus engine
time, from ``GET /ajet/stats``). Targets: added p50 < 2 ms; throughput at 64 episodes >= 0.8x bare.
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


def serve(kind: str, episodes: int, ready_file: str) -> None:
    import uvicorn

    if kind == "bare":
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def completions(request: Request) -> JSONResponse:
            body = json.loads(await request.body())
            return JSONResponse({
                "id": "chatcmpl-bare", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model") or "bare",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY},
                             "finish_reason": "stop", "logprobs": None}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            })

        app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
        keys = ["bare"] * episodes
    else:
        from ajet_core.config.models import AjetConfig
        from ajet_core.gateway import Gateway
        from ajet_core.gateway.scripted_engine import ScriptedEngine
        from ajet_core.toolparsers.hermes import HermesToolParser

        config = AjetConfig.model_validate({"rollout": {"max_tokens_per_episode": 10**9}})
        gateway = Gateway(ScriptedEngine(_tokenizer(), REPLY, max_model_len=10**6), config,
                          mode="rollout", tool_parser=HermesToolParser())
        keys = []
        for index in range(episodes):
            handle = gateway.open_episode(f"bench-{index}")
            keys.append(gateway.issue_key(handle.session, "agent"))
        app = gateway.app

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False,
                            lifespan="off", backlog=4096)
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        Path(ready_file).write_text(json.dumps({"port": port, "keys": keys}))
        await task

    asyncio.run(main())


# ------------------------------------------------------------------------- load generator


def load(port: int, keys: list[str], concurrency: int, seconds: float) -> dict[str, Any]:
    import httpx

    async def main() -> dict[str, Any]:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        latencies: list[float] = []
        errors = 0
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/v1", limits=limits, timeout=60) as http:
            # warm-up: one call per episode
            deadline = time.perf_counter() + seconds

            async def episode(index: int) -> None:
                nonlocal errors
                headers = {"Authorization": f"Bearer {keys[index]}"}
                while time.perf_counter() < deadline:
                    messages = [{"role": "system", "content": SYSTEM},
                                {"role": "user", "content": f"Episode {index}. Map:\nSFFF\nFHFH\nFFFH\nHFFG"}]
                    for turn in range(TURNS):
                        if time.perf_counter() >= deadline:
                            return
                        started = time.perf_counter()
                        response = await http.post("/chat/completions", headers=headers,
                                                   json={"model": "policy", "messages": messages})
                        latencies.append(time.perf_counter() - started)
                        if response.status_code != 200:
                            errors += 1
                            return
                        messages.append(response.json()["choices"][0]["message"])
                        messages.append({"role": "user", "content": f"You moved. Reward 0. Turn {turn}."})

            started = time.perf_counter()
            await asyncio.gather(*(episode(i) for i in range(concurrency)))
            elapsed = time.perf_counter() - started
        latencies.sort()
        return {"calls": len(latencies), "seconds": elapsed, "errors": errors,
                "calls_per_s": len(latencies) / elapsed,
                "client_p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else None}

    return asyncio.run(main())


# ----------------------------------------------------------------------------- driver


def _start(kind: str, episodes: int, tmp: Path) -> tuple[subprocess.Popen, dict[str, Any]]:
    ready = tmp / f"{kind}.json"
    ready.unlink(missing_ok=True)
    process = subprocess.Popen([sys.executable, __file__, "serve", kind, str(episodes), str(ready)])
    deadline = time.time() + 300
    while not ready.exists():
        if process.poll() is not None or time.time() > deadline:
            raise SystemExit(f"the {kind} server did not start")
        time.sleep(0.05)
    time.sleep(0.1)
    return process, json.loads(ready.read_text())


def _load_in_child(port: int, keys: list[str], concurrency: int, seconds: float) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "load", str(port), str(concurrency), str(seconds)],
        input=json.dumps(keys), capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def _stats(port: int, reset: bool = False) -> dict[str, Any]:
    import httpx

    return httpx.get(f"http://127.0.0.1:{port}/ajet/stats" + ("?reset=1" if reset else "")).json()


def drive(seconds: float, levels: list[int], tmp: Path) -> list[dict[str, Any]]:
    episodes = max(levels)
    results: dict[str, dict[int, dict[str, Any]]] = {}
    for kind in ("bare", "ajet"):
        process, info = _start(kind, episodes, tmp)
        try:
            results[kind] = {}
            for level in levels:
                _load_in_child(info["port"], info["keys"], level, min(1.0, seconds))  # warm-up
                if kind == "ajet":
                    _stats(info["port"], reset=True)
                result = _load_in_child(info["port"], info["keys"], level, seconds)
                if kind == "ajet":
                    result["overhead_ms"] = _stats(info["port"])["overhead_ms"]
                    result["drift_fallbacks"] = _stats(info["port"])["drift_fallbacks"]
                results[kind][level] = result
        finally:
            process.terminate()
            process.wait()
    rows = []
    for level in levels:
        bare, ajet = results["bare"][level], results["ajet"][level]
        rows.append({"episodes": level, "bare": bare, "ajet": ajet, "ratio": ajet["calls_per_s"] / bare["calls_per_s"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "serve":
        serve(argv[1], int(argv[2]), argv[3])
        return 0
    if argv and argv[0] == "load":
        keys = json.loads(sys.stdin.read())
        print(json.dumps(load(int(argv[1]), keys, int(argv[2]), float(argv[3]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        rows = drive(args.seconds, args.concurrency, Path(tmp))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{os.cpu_count()} cores; {args.seconds:g} s per level; server and load generator in separate processes")
    header = (f"{'episodes':>8}{'bare calls/s':>14}{'ajet calls/s':>14}{'ratio':>8}"
              f"{'bare rtt p50':>14}{'ajet rtt p50':>14}{'added p50':>11}{'added p99':>11}{'errors':>8}")
    print(header)
    print("-" * len(header))
    for row in rows:
        bare, ajet = row["bare"], row["ajet"]
        print(f"{row['episodes']:>8}{bare['calls_per_s']:>14.0f}{ajet['calls_per_s']:>14.0f}{row['ratio']:>7.2f}x"
              f"{bare['client_p50_ms']:>11.2f} ms{ajet['client_p50_ms']:>11.2f} ms"
              f"{ajet['overhead_ms']['p50']:>8.3f} ms{ajet['overhead_ms']['p99']:>8.3f} ms"
              f"{bare['errors'] + ajet['errors']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
