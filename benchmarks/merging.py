"""Timeline merging vs one sample per call, on realistic multi-turn episodes.

    .venvs/main/bin/python benchmarks/merging.py [--episodes 8] [--tokenizer DIR]
    .venvs/main/bin/python benchmarks/merging.py --model DIR [--episodes 2] [--reply-tokens 48]

Every episode really runs through the gateway (in-process), so its token ids come from the chat
template, prefix reuse and the recorded replies exactly as in training. By default the replies
come from a scripted agent (seeded, varied lengths) instead of a model: merging depends on
conversation shape, not on what the words are. With ``--model DIR`` a real model (the debug
backbone's ``TransformersEngine``, sampling at temperature 1 up to ``--reply-tokens`` per call)
writes the replies instead, so re-rendering real text (and any drift it causes) is measured too;
the episodes of a scenario run concurrently, as a rollout does. Scenarios:

- frozenlake_5/10/20: a grid-world agent, one observation + one action per turn;
- react_tools: a ReAct loop with three tools (search, calculator, read_page) and long results;
- three_agents: planner, coder and reviewer each keep their own view of a shared transcript;
- memory_rewrite: every 4 turns the agent's history is rewritten into a summary (a branch);
- retries: every other turn's first reply is rejected and the call retried (a branch each).

Printed per scenario, for one batch of ``--episodes`` episodes: LLM calls, samples and total
training tokens (the sum of sample lengths: what the trainer forwards) for ``per_call`` and
``timeline_merge``, their ratio, and the trained (mask 1) tokens, which must be equal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from ajet_core.config.models import AjetConfig
from ajet_core.gateway import Gateway
from ajet_core.gateway.scripted_engine import ScriptedEngine
from ajet_core.schema import EpisodeRecord, Task
from ajet_core.toolparsers.hermes import HermesToolParser
from ajet_core.tracking.per_call import PerCallTracker
from ajet_core.tracking.timeline_merge import TimelineMergeTracker

WORDS = (
    "the agent should move carefully around holes toward the goal while the ice is slippery "
    "and every step counts so think about position rows columns and safe tiles first"
).split()


def words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


class Script:
    """The next reply of each agent, set by the scenario before each call."""

    def __init__(self) -> None:
        self.next_reply = "ok"

    def __call__(self, prompt: str) -> str:
        return self.next_reply


def _tool(name: str, arg: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} tool",
            "parameters": {
                "type": "object",
                "properties": {arg: {"type": "string"}},
                "required": [arg],
            },
        },
    }


TOOLS = [_tool("search", "query"), _tool("calculator", "expression"), _tool("read_page", "url")]


def grid(rng: random.Random) -> str:
    cells = [rng.choice("FFFH") for _ in range(16)]
    cells[0], cells[15] = "S", "G"
    cells[rng.randrange(16)] = "P"
    return "\n".join("".join(cells[r * 4 : (r + 1) * 4]) for r in range(4))


async def frozenlake(
    turns: int, gateway: Gateway, key: str, script: Script, rng: random.Random
) -> None:
    messages = [
        {
            "role": "system",
            "content": "You play FrozenLake. Reach G, avoid H. "
            "Answer with <action>Left|Right|Up|Down</action>.",
        },
        {"role": "user", "content": "Current map:\n" + grid(rng)},
    ]
    for _ in range(turns):
        script.next_reply = (
            f"{words(rng, 15, 60)} <action>{rng.choice(['Left', 'Right', 'Up', 'Down'])}</action>"
        )
        reply = await gateway.chat_completion(key, {"messages": messages})
        messages.append(reply["choices"][0]["message"])
        messages.append(
            {"role": "user", "content": f"You moved. Reward 0.\nCurrent map:\n{grid(rng)}"}
        )


async def react(gateway: Gateway, key: str, script: Script, rng: random.Random) -> None:
    messages = [
        {"role": "system", "content": "Answer the question. Use tools when useful."},
        {
            "role": "user",
            "content": "How tall is the tower, in feet, divided by the number of bridges in town?",
        },
    ]
    for _ in range(rng.randint(4, 7)):
        name = rng.choice(["search", "calculator", "read_page"])
        arg = {"search": "query", "calculator": "expression", "read_page": "url"}[name]
        script.next_reply = (
            f"{words(rng, 10, 30)}\n<tool_call>\n"
            + json.dumps({"name": name, "arguments": {arg: words(rng, 2, 5)}})
            + "\n</tool_call>"
        )
        reply = await gateway.chat_completion(key, {"messages": messages, "tools": TOOLS})
        message = reply["choices"][0]["message"]
        messages.append(message)
        for call in message.get("tool_calls") or []:
            messages.append(
                {"role": "tool", "tool_call_id": call["id"], "content": words(rng, 60, 160)}
            )
    script.next_reply = "The answer is " + words(rng, 5, 20)
    await gateway.chat_completion(key, {"messages": messages, "tools": TOOLS})


async def three_agents(
    gateway: Gateway, keys: dict[str, str], script: Script, rng: random.Random
) -> None:
    names = list(keys)
    views = {
        name: [
            {"role": "system", "content": f"You are the {name} of a small software team."},
            {"role": "user", "content": "Task: write a function that merges two sorted lists."},
        ]
        for name in names
    }
    for _ in range(4):
        for name in names:
            script.next_reply = words(rng, 30, 90)
            reply = await gateway.chat_completion(keys[name], {"messages": views[name]})
            text = reply["choices"][0]["message"]["content"]
            for other in names:
                if other == name:
                    views[other].append(reply["choices"][0]["message"])
                else:
                    views[other].append({"role": "user", "content": f"[{name}] {text}"})


async def memory_rewrite(gateway: Gateway, key: str, script: Script, rng: random.Random) -> None:
    system = {"role": "system", "content": "You are a research assistant with a bounded memory."}
    messages = [system, {"role": "user", "content": "Collect facts about glaciers."}]
    for turn in range(12):
        script.next_reply = words(rng, 30, 80)
        reply = await gateway.chat_completion(key, {"messages": messages})
        messages.append(reply["choices"][0]["message"])
        messages.append({"role": "user", "content": "Continue. " + words(rng, 5, 20)})
        if turn % 4 == 3:  # the framework rewrites its memory: a new branch begins
            messages = [
                system,
                {"role": "user", "content": "Summary so far: " + words(rng, 40, 60)},
            ]


async def retries(gateway: Gateway, key: str, script: Script, rng: random.Random) -> None:
    """Every other turn, the first reply is rejected (a bad action format) and the call is
    made again from the same history: the timeline branches at each retry."""
    messages = [
        {"role": "system", "content": "You play FrozenLake. Answer with <action>...</action>."},
        {"role": "user", "content": "Current map:\n" + grid(rng)},
    ]
    for turn in range(8):
        if turn % 2:
            script.next_reply = words(rng, 15, 60) + " I am not sure which way to go"
            await gateway.chat_completion(key, {"messages": messages})  # rejected, retried
        script.next_reply = f"{words(rng, 15, 60)} <action>{rng.choice(['Left', 'Up'])}</action>"
        reply = await gateway.chat_completion(key, {"messages": messages})
        messages.append(reply["choices"][0]["message"])
        messages.append({"role": "user", "content": f"You moved.\nCurrent map:\n{grid(rng)}"})


SCENARIOS: dict[str, Callable[..., Awaitable[None]]] = {
    "frozenlake_5": lambda g, k, s, r: frozenlake(5, g, k["agent"], s, r),
    "frozenlake_10": lambda g, k, s, r: frozenlake(10, g, k["agent"], s, r),
    "frozenlake_20": lambda g, k, s, r: frozenlake(20, g, k["agent"], s, r),
    "react_tools": lambda g, k, s, r: react(g, k["agent"], s, r),
    "three_agents": lambda g, k, s, r: three_agents(g, k, s, r),
    "memory_rewrite": lambda g, k, s, r: memory_rewrite(g, k["agent"], s, r),
    "retries": lambda g, k, s, r: retries(g, k["agent"], s, r),
}


def load_tokenizer(path: str | None) -> tuple[Any, str]:
    if path == "builtin":
        from ajet_core.chat.testing import build_chatml_tokenizer

        return build_chatml_tokenizer(), "built-in test BPE tokenizer"
    if path:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(path), path
    try:
        from ajet_backbone_debug.models.tiny import ensure_tiny_model
        from transformers import AutoTokenizer

        tiny = ensure_tiny_model()
        return AutoTokenizer.from_pretrained(tiny), f"tiny model ({tiny})"
    except ImportError:
        from ajet_core.chat.testing import build_chatml_tokenizer

        return build_chatml_tokenizer(), "built-in test BPE tokenizer"


def load_engine(model_dir: str, seed: int = 0) -> Any:
    """A real model served by the debug backbone's engine (float32, one decode thread)."""
    from ajet_backbone_debug.engine import TransformersEngine

    return TransformersEngine.from_path(
        model_dir, dtype="float32", device="cpu", seed=seed, num_threads=1
    )


async def record(
    name: str, episodes: int, tokenizer: Any, engine: Any = None, reply_tokens: int = 48
) -> list[EpisodeRecord]:
    """Run ``episodes`` episodes of scenario ``name`` through a gateway and return their records;
    the advantages alternate +1/-1. ``engine`` None: the scripted zero-cost engine."""
    script = Script()
    if engine is None:
        limits = {"max_tokens_per_episode": 10**7, "max_tokens_per_call": 10**5}
        engine = ScriptedEngine(tokenizer, script, max_model_len=10**6)
    else:
        limits = {
            "max_tokens_per_episode": 10**7,
            "max_tokens_per_call": reply_tokens,
            "temperature": 1.0,
        }
    gateway = Gateway(
        engine, AjetConfig.model_validate({"rollout": limits}), tool_parser=HermesToolParser()
    )

    async def one(index: int) -> EpisodeRecord:
        handle = gateway.open_episode(f"{name}-{index}")
        agents = ["planner", "coder", "reviewer"] if name == "three_agents" else ["agent"]
        keys = {agent: gateway.issue_key(handle.session, agent) for agent in agents}
        await SCENARIOS[name](gateway, keys, script, random.Random(f"{name}/{index}"))
        recording = handle.close()
        return EpisodeRecord(
            episode_id=handle.episode_id,
            task=Task(),
            calls=recording.calls,
            drift_fallbacks=recording.drift_fallbacks,
            advantage=1.0 if index % 2 else -1.0,
        )

    if isinstance(engine, ScriptedEngine):
        # One at a time: the scenarios share one script, whose next reply each sets before a call.
        return [await one(index) for index in range(episodes)]
    return list(await asyncio.gather(*(one(index) for index in range(episodes))))


async def run(
    episodes: int, tokenizer: Any, engine: Any = None, reply_tokens: int = 48, only=None
) -> list[dict[str, Any]]:
    rows = []
    for name in only or SCENARIOS:
        records = await record(name, episodes, tokenizer, engine, reply_tokens)
        row: dict[str, Any] = {
            "scenario": name,
            "calls": sum(len(r.calls) for r in records),
            "drift_fallbacks": sum(r.drift_fallbacks for r in records),
        }
        for tracker in (
            PerCallTracker(max_sample_tokens=10**6),
            TimelineMergeTracker(max_sample_tokens=10**6),
        ):
            samples = [s for r in records for s in tracker.build_samples(r)]
            row[tracker.name] = {
                "samples": len(samples),
                "tokens": sum(map(len, samples)),
                "trained": sum(s.num_trained_tokens for s in samples),
            }
        row["token_ratio"] = row["per_call"]["tokens"] / row["timeline_merge"]["tokens"]
        row["sample_ratio"] = row["per_call"]["samples"] / row["timeline_merge"]["samples"]
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=8, help="episodes per scenario (one batch)")
    parser.add_argument(
        "--tokenizer",
        help="a Hugging Face model/tokenizer directory, or 'builtin' (default: the tiny model's)",
    )
    parser.add_argument(
        "--model", help="a model directory whose replies are recorded (default: scripted replies)"
    )
    parser.add_argument("--reply-tokens", type=int, default=48, help="with --model: per call")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    only = [s for s in args.scenarios.split(",") if s]
    unknown = [s for s in only if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    engine = None
    if args.model:
        engine = load_engine(args.model)
        tokenizer, source = engine.tokenizer, f"replies sampled from {args.model}"
    else:
        tokenizer, source = load_tokenizer(args.tokenizer)
    try:
        rows = asyncio.run(run(args.episodes, tokenizer, engine, args.reply_tokens, only))
    finally:
        if engine is not None:
            engine.close()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"tokenizer: {source}; {args.episodes} episodes per scenario")
    header = (
        f"{'scenario':<16}{'calls':>6}{'per_call samples':>18}{'tokens':>9}{'merged samples':>16}"
        f"{'tokens':>9}{'token ratio':>13}{'trained equal':>15}{'drift':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        p, m = row["per_call"], row["timeline_merge"]
        print(
            f"{row['scenario']:<16}{row['calls']:>6}{p['samples']:>18}{p['tokens']:>9}"
            f"{m['samples']:>16}{m['tokens']:>9}{row['token_ratio']:>12.2f}x"
            f"{str(p['trained'] == m['trained']):>15}{row['drift_fallbacks']:>7}"
        )
    return 0 if all(r["per_call"]["trained"] == r["timeline_merge"]["trained"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
