"""Run AgentScope 1.x ReActAgents with tracing on, the way a deployed agent records its traces
(AgentJet's tracing tutorial: ``agentscope.init(...)`` then ``agent.reply(Msg(...))``).

    python agentscope_traced_agent.py RUNS.json --base-url URL --model NAME --tracing-url URL \
        [--replies OUT.json]

RUNS.json is a list of ``{"agent": name, "query": text, "kind": ...}``; each run is one fresh
agent answering one user message, its model an OpenAI-compatible endpoint (``ajet serve`` in the
tests). Kinds: ``react`` (default) a ReActAgent; ``planner`` an agent that hands the question on
to a ReActAgent helper (a nested agent run in the trace); ``broken`` a ReActAgent whose endpoint
refuses connections (a run that ends in an error). Needs AgentScope 1.x (the trinity
environment); the spans go to ``--tracing-url`` over OTLP/HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from pathlib import Path

SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly."


def react_agent(name: str, base_url: str, model: str):
    from agentscope.agent import ReActAgent
    from agentscope.formatter import OpenAIChatFormatter
    from agentscope.model import OpenAIChatModel

    return ReActAgent(
        name=name,
        sys_prompt=SYSTEM_PROMPT,
        model=OpenAIChatModel(
            model_name=model,
            api_key="EMPTY",
            stream=False,
            client_kwargs={"base_url": base_url, "max_retries": 0},
            generate_kwargs={"max_tokens": 24, "temperature": 0.0},
        ),
        formatter=OpenAIChatFormatter(),
        max_iters=1,
    )


def planner_agent(name: str, helper):
    from agentscope.agent import AgentBase
    from agentscope.message import Msg
    from agentscope.tracing import trace_reply

    class Planner(AgentBase):
        """Hands each question on to its helper agent."""

        def __init__(self) -> None:
            super().__init__()
            self.name = name

        @trace_reply
        async def reply(self, msg: Msg) -> Msg:
            answer = await helper.reply(Msg(name, f"Sub-question: {msg.content}", role="user"))
            return Msg(name, answer.get_text_content(), role="assistant")

        async def observe(self, msg) -> None:
            pass

        async def handle_interrupt(self, *args, **kwargs) -> Msg:
            return Msg(name, "interrupted", role="assistant")

    return Planner()


async def main(
    runs: list[dict[str, str]], base_url: str, model: str, closed_url: str
) -> dict[str, str]:
    """Each query's reply text, as the agent returned it."""
    from agentscope.message import Msg

    replies = {}
    for run in runs:
        kind = run.get("kind", "react")
        if kind == "planner":
            agent = planner_agent(
                run["agent"], react_agent(f"{run['agent']}Helper", base_url, model)
            )
        else:
            agent = react_agent(run["agent"], closed_url if kind == "broken" else base_url, model)
        try:
            reply = await agent.reply(Msg("user", run["query"], role="user"))
        except Exception as exc:  # the broken run: its span records the error
            if kind != "broken":
                raise
            print(f"{run['agent']}: {run['query']!r} failed as meant: {type(exc).__name__}")
            continue
        replies[run["query"]] = reply.get_text_content()
    return replies


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", type=Path)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--tracing-url", required=True)
    parser.add_argument("--project", default="ajet-tracing-reader-test")
    parser.add_argument("--replies", type=Path, help="write each query's reply here (JSON)")
    args = parser.parse_args()

    import agentscope
    from opentelemetry import trace

    agentscope.init(project=args.project, name="traced-run", tracing_url=args.tracing_url)
    with socket.socket() as closed:  # a port nothing listens on: the broken runs' endpoint
        closed.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{closed.getsockname()[1]}/v1"
    replies = asyncio.run(
        main(json.loads(args.runs.read_text()), args.base_url, args.model, closed_url)
    )
    if args.replies:
        args.replies.write_text(json.dumps(replies))
    # The exporter batches spans; flush so every span reaches the store before we exit.
    assert trace.get_tracer_provider().force_flush(timeout_millis=60_000), "spans not exported"
