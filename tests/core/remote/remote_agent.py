"""A remote agent as a user writes one: its own process, the thin client and the openai SDK.

    python remote_agent.py RUN_FOLDER_PARENT [--episodes N] [--vanish-after-call]

It waits for the run's ``remote/url`` and ``remote/token`` files, then claims episodes until the
run finishes (or ``--episodes`` were claimed). Each episode asks the policy the task's question
once and finishes with a reward: 1 when the reply has a digit. ``--vanish-after-call`` makes it
kill itself (SIGKILL) right after the first LLM call of its first episode: a client that dies
mid-episode, leaving a claim, a recorded call and no finish behind.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import openai

from ajet_client import EpisodeClient, RunFinished


def wait_for_run(parent: Path, timeout: float = 300.0) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for token in parent.glob("*/*/remote/token"):
            url_file = token.with_name("url")
            text = token.read_text().strip()
            if url_file.exists() and text:
                return url_file.read_text().strip(), text
        time.sleep(0.2)
    sys.exit(f"no run under {parent} served remote workers within {timeout:g} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", type=Path)
    parser.add_argument("--episodes", type=int, default=None)
    parser.add_argument("--vanish-after-call", action="store_true")
    parser.add_argument("--name", default=f"python-{os.getpid()}")
    args = parser.parse_args()
    url, token = wait_for_run(args.runs)
    client = EpisodeClient(url, token, worker=args.name, reconnect_seconds=10)
    claimed = 0
    while args.episodes is None or claimed < args.episodes:
        try:
            episode = client.claim(wait_seconds=5)
        except (RunFinished, ConnectionError):
            break
        if episode is None:
            continue
        claimed += 1
        with episode:
            llm = openai.OpenAI(base_url=episode.base_url, api_key=episode.api_key, max_retries=0)
            reply = llm.chat.completions.create(
                model=episode.model,
                messages=[{"role": "user", "content": episode.task["main_query"]}],
            )
            if args.vanish_after_call:
                os.kill(os.getpid(), signal.SIGKILL)
            text = reply.choices[0].message.content or ""
            episode.finish(
                reward=float(any(c.isdigit() for c in text)),
                metadata={"worker": args.name, "reply_chars": len(text)},
            )
        print(f"{args.name}: finished {episode.episode_id}", flush=True)
    print(f"{args.name}: done after {claimed} episodes", flush=True)


if __name__ == "__main__":
    main()
