"""One remote worker process for benchmarks/remote_workers.py: the thin client and the openai SDK.

    python benchmarks/remote_client.py URL TOKEN NAME

Claims episodes until the run finishes; each makes one call, timed around the SDK call, and
finishes with reward 0 and the call's wall time in metadata (``call_seconds``).
"""

from __future__ import annotations

import sys
import time

import openai

from ajet_client import EpisodeClient, RunFinished


def main() -> None:
    url, token, name = sys.argv[1:4]
    client = EpisodeClient(url, token, worker=name, reconnect_seconds=5)
    while True:
        try:
            episode = client.claim(wait_seconds=2)
        except (RunFinished, ConnectionError):
            return
        if episode is None:
            continue
        with episode:
            llm = openai.OpenAI(base_url=episode.base_url, api_key=episode.api_key, max_retries=0)
            started = time.perf_counter()
            llm.chat.completions.create(
                model=episode.model,
                messages=[{"role": "user", "content": episode.task["main_query"]}],
            )
            episode.finish(0.0, metadata={"call_seconds": time.perf_counter() - started})


if __name__ == "__main__":
    main()
