"""Engine batching: tokens/s of the debug backbone's engine at 1 and at N concurrent requests.

    .venvs/main/bin/python benchmarks/engine_batching.py            # tiny model and SmolLM2

Each model is served by one TransformersEngine. "1 concurrent" sends requests one after another;
"N concurrent" sends N at once (continuous batching decodes them together). Every request
generates exactly --tokens new tokens (EOS is switched off so both sides do the same work) with
temperature 1.0 sampling. The models come from the test cache (built or imported on first use).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

QUESTIONS = [
    "What is 12 + 30?",
    "Tell me a joke.",
    "What is the weather in Rome?",
    "Compute 7 * 8.",
    "Hello!",
    "Search the web for jazz music.",
    "What can you do?",
    "Calculate 45 - 19.",
]


async def tokens_per_second(engine, prompts, concurrency: int, tokens: int) -> tuple[float, float]:
    from ajet_core.engine import SamplingParams

    def sampling(i: int) -> SamplingParams:
        return SamplingParams(temperature=1.0, max_tokens=tokens, seed=i)

    started = time.perf_counter()
    generated = 0
    for wave in range(0, len(prompts), concurrency):
        batch = prompts[wave : wave + concurrency]
        results = await asyncio.gather(
            *(engine.generate(p, sampling(wave + i)) for i, p in enumerate(batch))
        )
        generated += sum(len(r.token_ids) for r in results)
    seconds = time.perf_counter() - started
    return generated / seconds, seconds


async def measure(name: str, path: Path, args) -> dict:
    from ajet_backbone_debug.engine import TransformersEngine

    engine = TransformersEngine.from_path(
        str(path),
        eos_token_ids=[],
        max_batch_size=max(args.concurrency, 1),
        num_threads=args.threads,
    )
    try:
        tokenizer = engine.tokenizer
        prompts = [
            tokenizer.apply_chat_template(
                [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}],
                add_generation_prompt=True,
                return_dict=False,
            )
            for i in range(args.concurrency)
        ]
        # Warm-up (first-call allocations), not timed.
        await tokens_per_second(engine, prompts[:2], 2, 4)
        single, single_s = await tokens_per_second(
            engine, prompts[: args.sequential], 1, args.tokens
        )
        batched, batched_s = await tokens_per_second(engine, prompts, args.concurrency, args.tokens)
        return {
            "model": name,
            "single": single,
            "single_s": single_s,
            "batched": batched,
            "batched_s": batched_s,
            "rows": engine.max_rows_seen,
        }
    finally:
        engine.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models", nargs="+", default=["tiny", "smollm2"], choices=["tiny", "smollm2"]
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sequential", type=int, default=4, help="requests timed one at a time")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per request")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads of the decode thread (default: torch's, one per core)",
    )
    parser.add_argument(
        "--cache-dir", default=os.environ.get("AJET_TEST_CACHE") or str(REPO / ".cache")
    )
    args = parser.parse_args()

    import torch
    from ajet_backbone_debug.models.smollm2 import ensure_smollm2
    from ajet_backbone_debug.models.tiny import ensure_tiny_model

    paths = {
        "tiny": lambda: ensure_tiny_model(args.cache_dir),
        "smollm2": lambda: ensure_smollm2(args.cache_dir),
    }
    rows = [asyncio.run(measure(name, paths[name](), args)) for name in args.models]

    print(
        f"\nengine batching: {args.tokens} new tokens per request, temperature 1.0, decode threads "
        f"{args.threads or torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}"
    )
    head = (
        f"{'model':<8} {'1 concurrent tok/s':>19} "
        f"{f'{args.concurrency} concurrent tok/s':>20} {'ratio':>7} {'rows':>5}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['model']:<8} {r['single']:>19.1f} {r['batched']:>20.1f} "
            f"{r['batched'] / r['single']:>6.1f}x {r['rows']:>5}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
