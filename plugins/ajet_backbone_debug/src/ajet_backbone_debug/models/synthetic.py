"""Synthetic chat conversations that teach the tiny model the output formats tests rely on.

Four skills, each a conversation (``messages`` plus optional ``tools``) in OpenAI format:

* tool use: with tools offered, a request is answered by a Hermes ``<tool_call>``; after the
  ``tool`` result the assistant gives a short final answer;
* arithmetic without tools: the answer ends in ``\\boxed{N}``;
* judging: a grader prompt is answered by a line ``Score: N/10``;
* small talk, so plain prompts get plain text.

The content need not be smart (a ~1M-parameter model will get sums wrong); the formats must be
exact, because the gateway parses them and tests exercise the success paths.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

CITIES = [
    "Paris",
    "London",
    "Tokyo",
    "Berlin",
    "Madrid",
    "Rome",
    "Cairo",
    "Lima",
    "Oslo",
    "Dublin",
    "Vienna",
    "Prague",
    "Seoul",
    "Delhi",
    "Sydney",
    "Toronto",
    "Boston",
    "Chicago",
    "Denver",
    "Moscow",
    "Athens",
    "Lisbon",
    "Warsaw",
    "Nairobi",
    "Hanoi",
    "Manila",
    "Bangkok",
    "Zurich",
]
TOPICS = [
    "python tutorials",
    "the moon landing",
    "healthy recipes",
    "electric cars",
    "jazz music",
    "ancient rome",
    "machine learning",
    "the tallest mountain",
    "coffee history",
    "chess openings",
    "solar panels",
    "deep sea fish",
    "the speed of light",
    "football results",
    "new books",
]
WEATHER = ["sunny", "cloudy", "rainy", "windy", "snowy", "foggy"]
SYSTEMS = [
    "You are a helpful assistant.",
    "You are a helpful agent. Use the tools when they help.",
    "You are a concise assistant.",
    "Answer the user's question.",
]
OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def _tool(name: str, description: str, arg: str, arg_description: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {arg: {"type": "string", "description": arg_description}},
                "required": [arg],
            },
        },
    }


TOOLS = {
    "get_weather": _tool("get_weather", "Get the current weather in a city.", "city", "City name"),
    "calculator": _tool(
        "calculator", "Evaluate an arithmetic expression.", "expression", "Expression"
    ),
    "search": _tool("search", "Search the web.", "query", "Search query"),
    "run_python": _tool(
        "run_python", "Run Python code and return its output.", "code", "Python code"
    ),
}


@dataclass
class Conversation:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    # Index of assistant messages whose text the model is trained to produce.
    trained: list[int] = field(default_factory=list)


def _expression(rng: random.Random) -> tuple[str, int]:
    op = rng.choice(list(OPS))
    a, b = rng.randint(1, 99), rng.randint(1, 99 if op != "*" else 12)
    return f"{a} {op} {b}", OPS[op](a, b)


def _tool_call_message(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    call = {
        "id": "call_0",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }
    return {"role": "assistant", "content": "", "tool_calls": [call]}


def _tool_request(rng: random.Random) -> tuple[str, str, dict[str, Any], str, str]:
    """(tool name, user text, arguments, tool result, final answer)."""
    kind = rng.choice(list(TOOLS))
    if kind == "get_weather":
        city, weather = rng.choice(CITIES), rng.choice(WEATHER)
        user = rng.choice(
            [
                f"What is the weather in {city}?",
                f"How is the weather in {city} today?",
                f"Is it raining in {city}?",
                f"Check the weather for {city}.",
            ]
        )
        return kind, user, {"city": city}, weather, f"It is {weather} in {city}."
    if kind == "calculator":
        expr, value = _expression(rng)
        user = rng.choice(
            [
                f"Use the calculator to compute {expr}.",
                f"What is {expr}? Use a tool.",
                f"Calculate {expr}.",
                f"Please compute {expr} with the calculator.",
            ]
        )
        return kind, user, {"expression": expr}, str(value), f"The answer is \\boxed{{{value}}}."
    if kind == "search":
        topic = rng.choice(TOPICS)
        user = rng.choice(
            [
                f"Search the web for {topic}.",
                f"Find information about {topic}.",
                f"Look up {topic} online.",
            ]
        )
        return (
            kind,
            user,
            {"query": topic},
            f"Top result: a page about {topic}.",
            f"I found a page about {topic}.",
        )
    expr, value = _expression(rng)
    user = rng.choice(
        [
            f"Use Python to compute {expr}.",
            f"Run Python code that prints {expr}.",
            f"Write and run Python to evaluate {expr}.",
        ]
    )
    return kind, user, {"code": f"print({expr})"}, str(value), f"The answer is \\boxed{{{value}}}."


def tool_use(rng: random.Random) -> Conversation:
    name, user, arguments, result, answer = _tool_request(rng)
    others = [t for t in TOOLS if t != name]
    offered = [name, *rng.sample(others, rng.choice([0, 0, 1, 2]))]
    rng.shuffle(offered)
    messages: list[dict[str, Any]] = []
    if rng.random() < 0.6:
        messages.append({"role": "system", "content": rng.choice(SYSTEMS)})
    messages += [{"role": "user", "content": user}, _tool_call_message(name, arguments)]
    trained = [len(messages) - 1]
    if rng.random() < 0.6:
        messages += [
            {"role": "tool", "tool_call_id": "call_0", "content": result},
            {"role": "assistant", "content": answer},
        ]
        trained.append(len(messages) - 1)
    return Conversation(messages, [TOOLS[t] for t in offered], trained)


def math(rng: random.Random) -> Conversation:
    expr, value = _expression(rng)
    user = rng.choice(
        [
            f"What is {expr}?",
            f"Compute {expr}.",
            f"Solve: {expr}",
            f"What is {expr}? Put the final answer in \\boxed{{}}.",
            f"Calculate {expr} step by step.",
        ]
    )
    # The format comes first in every variant, so a reply never ends before it.
    answer = rng.choice([f"The answer is \\boxed{{{value}}}.", f"\\boxed{{{value}}}"])
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    if rng.random() < 0.3:
        messages.insert(0, {"role": "system", "content": rng.choice(SYSTEMS)})
    return Conversation(messages, None, [len(messages) - 1])


def judge(rng: random.Random) -> Conversation:
    expr, value = _expression(rng)
    correct = rng.random() < 0.5
    given = value if correct else value + rng.choice([-3, -2, -1, 1, 2, 5, 10])
    score = rng.randint(7, 10) if correct else rng.randint(0, 3)
    system = rng.choice(
        [
            "You are a strict judge. Rate the answer from 0 to 10.",
            "You grade answers. Reply with a score out of 10.",
        ]
    )
    user = rng.choice(
        [
            f"Question: What is {expr}?\nAnswer: {given}\nRate the answer.",
            f"Grade this answer.\nQuestion: {expr}\nAnswer: {given}",
        ]
    )
    verdict = "The answer is correct." if correct else "The answer is wrong."
    reply = rng.choice([f"Score: {score}/10\n{verdict}", f"Score: {score}/10"])
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
        {"role": "assistant", "content": reply},
    ]
    return Conversation(messages, None, [2])


def small_talk(rng: random.Random) -> Conversation:
    user, reply = rng.choice(
        [
            ("Hello!", "Hello! How can I help you?"),
            ("Hi, who are you?", "I am a small assistant."),
            ("Tell me a joke.", "Why did the robot cross the road? To reach the other side."),
            ("Thank you.", "You are welcome."),
            ("What can you do?", "I can answer questions and use tools."),
        ]
    )
    return Conversation(
        [{"role": "user", "content": user}, {"role": "assistant", "content": reply}], None, [1]
    )


SKILLS = [(tool_use, 0.45), (math, 0.25), (judge, 0.2), (small_talk, 0.1)]


def make_conversations(count: int, seed: int) -> list[Conversation]:
    rng = random.Random(seed)
    makers, weights = zip(*SKILLS)
    return [rng.choices(makers, weights)[0](rng) for _ in range(count)]
