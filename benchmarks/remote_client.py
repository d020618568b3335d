"""One remote worker process for benchmarks/remote_workers.py: the thin client and the openai SDK.

    python benchmarks/remote_client.py URL TOKEN NAME [--shared-client]

Claims episodes until the run finishes; each makes one call, timed around the SDK call, and
finishes with reward 0 and the call's wall time in metadata (``call_seconds``). By default each
episode builds its own ``openai.OpenAI`` (as the docs' example does: about 20-30 ms of CPU here);
``--shared-client`` builds one and gives each episode ``with_options(api_key=...)`` of it.
"""

from __future__ import annotations

import sys
import time

import openai

from ajet_client import EpisodeClient, RunFinished


def main() -> None:
    url, token, name = sys.argv[1:4]
    shared = "--shared-client" in sys.argv[4:]
    client = EpisodeClient(url, token, worker=name, reconnect_seconds=5)
    llm_base: openai.OpenAI | None = None
    while True:
        try:
            episode = client.claim(wait_seconds=2)
        except (RunFinished, ConnectionError):
            return
        if episode is None:
            continue
        with episode:
            if not shared:
                llm = openai.OpenAI(
                    base_url=episode.base_url, api_key=episode.api_key, max_retries=0
                )
            else:
                if llm_base is None:
                    llm_base = openai.OpenAI(base_url=episode.base_url, api_key="-", max_retries=0)
                llm = llm_base.with_options(api_key=episode.api_key)
            started = time.perf_counter()
            llm.chat.completions.create(
                model=episode.model,
                messages=[{"role": "user", "content": episode.task["main_query"]}],
            )
            episode.finish(0.0, metadata={"call_seconds": time.perf_counter() - started})


if __name__ == "__main__":
    main()
