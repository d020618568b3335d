"""A race against TRL: TRL's GRPOTrainer and `ajet train --backbone debug` on the quickstart.

    flock /tmp/ajet-heavy.lock nice -n 5 .venvs/main/bin/python benchmarks/vs_trl.py

Both trainers get the same machine, model (SmolLM2-135M-Instruct from the local test cache, no
model hub), tasks (tutorial/quickstart/make_data.py), reward (the quickstart config's judger,
built by AgentJet's plugin loader in both processes), group size, batch, learning rate, sampling
and reply length; the settings of both are printed side by side. Each trainer runs in its own
process for at most --budget-minutes and saves its weights every --save-every steps. The two run
at the same time, each with --threads torch threads (default 1 each on this 2-core machine), so
both see the same load from other work; --one-at-a-time runs them one after the other. Afterwards
one function (`greedy_success`, batched greedy decoding with transformers, scored by the same
judger) evaluates the base model and every saved model on the 120 held-out tasks. Time is the
wall clock from launching the trainer's process to the moment the checkpoint's last file was
written, so it includes start-up, generation, training and saving, for both alike.

TRL lives only in its own environment, .venvs/trl, which this script creates with pip on first
use (torch pinned to the local 2.13.0 wheel, trl pinned; AgentJet's core and standard plugins
installed editable there for the judger). The main environment never imports TRL.

Prints the settings table, one row per evaluated model, and the summary: TRL's final accuracy,
the time each trainer first reached it, and their ratio. Writes everything to OUT/results.json
(--out, default a new folder under /tmp); a rerun with the same --out reuses finished runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "tutorial" / "quickstart" / "quickstart.yaml"
TRL_VENV = REPO / ".venvs" / "trl"
# What the TRL environment is made of. torch from the local wheel (a bare `trl` would pull a
# CUDA build); transformers, accelerate and datasets at the main environment's versions, so the
# two trainers run the same model code.
TRL_REQUIREMENTS = [
    "torch==2.13.0",
    "trl==1.16.0",
    "transformers==5.24.0",
    "accelerate==1.15.0",
    "datasets==5.2.0",
    "py-spy==0.4.1",  # samples both trainers' stacks during the race (--profile)
]
TRL_EDITABLE = ["ajet_core", "plugins/ajet_plugins_std"]
ACCURACY_TOLERANCE = 1e-9  # accuracies are k/120; equal fractions may differ in the last bit


# ---------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class SettingRow:
    """One line of the side-by-side settings table."""

    what: str
    ajet: str
    trl: str
    note: str = ""


def trl_settings(config: Any, *, save_every: int, output_dir: str) -> dict[str, Any]:
    """GRPOConfig keyword arguments that match an AgentJet config (an ``AjetConfig``).

    One AgentJet step is one rollout batch (batch_size tasks x num_repeat samples) and one
    optimizer step; in TRL that is per_device_train_batch_size = batch_size * num_repeat
    completions with num_generations = num_repeat and no gradient accumulation, so each
    generation batch is one optimizer step. Settings TRL cannot express raise ValueError.
    """
    rollout, trainer = config.rollout, config.trainer
    if trainer.lora.rank:
        raise ValueError(
            f"trainer.lora.rank={trainer.lora.rank}: the race compares full fine-tuning; "
            "set trainer.lora.rank=0"
        )
    if trainer.total_steps is None:
        raise ValueError("trainer.total_steps is not set: the race needs a fixed number of steps")
    if rollout.num_repeat < 2:
        raise ValueError(
            f"rollout.num_repeat={rollout.num_repeat}: GRPO needs at least 2 samples per task"
        )
    loss_type = {"token_mean": "dapo", "seq_mean": "grpo"}[trainer.loss_agg]
    return {
        "output_dir": output_dir,
        "max_steps": trainer.total_steps,
        "per_device_train_batch_size": rollout.batch_size * rollout.num_repeat,
        "num_generations": rollout.num_repeat,
        "gradient_accumulation_steps": 1,
        "learning_rate": trainer.lr,
        "lr_scheduler_type": trainer.lr_scheduler,
        "warmup_steps": trainer.warmup_steps,
        "weight_decay": trainer.weight_decay,
        "adam_beta1": trainer.betas[0],
        "adam_beta2": trainer.betas[1],
        "max_grad_norm": trainer.grad_clip,
        "num_iterations": trainer.ppo_epochs,
        "epsilon": trainer.clip_ratio_low,
        "epsilon_high": trainer.clip_ratio_high,
        "beta": trainer.kl_coef,
        "loss_type": loss_type,
        "scale_rewards": "group",  # AgentJet divides each group's advantages by its std
        "temperature": rollout.temperature,
        "top_p": rollout.top_p,
        "top_k": 0 if rollout.top_k == -1 else rollout.top_k,  # "no filter" in each one's terms
        "max_completion_length": rollout.max_tokens_per_call,
        "seed": config.experiment.seed,
        "save_strategy": "steps",
        "save_steps": save_every,
        "save_only_model": True,  # the model is what is evaluated; AgentJet also saves AdamW
        "logging_steps": 1,
        "report_to": "none",
        "bf16": False,
        # TRL's default recomputes activations in the backward pass; AgentJet's debug trainer
        # keeps them (a 135M model fits either way), so the race compares equal work.
        "gradient_checkpointing": False,
        "model_init_kwargs": {
            "dtype": "float32" if config.model.dtype == "auto" else config.model.dtype
        },
    }


def settings_rows(config: Any, trl: dict[str, Any]) -> list[SettingRow]:
    """The table printed before the race: each setting as each trainer is given it."""
    rollout, trainer = config.rollout, config.trainer
    return [
        SettingRow(
            "tasks per step",
            f"rollout.batch_size={rollout.batch_size}",
            f"per_device_train_batch_size/num_generations="
            f"{trl['per_device_train_batch_size'] // trl['num_generations']}",
        ),
        SettingRow(
            "samples per task (group)",
            f"rollout.num_repeat={rollout.num_repeat}",
            f"num_generations={trl['num_generations']}",
        ),
        SettingRow(
            "samples per optimizer step",
            str(rollout.batch_size * rollout.num_repeat),
            f"per_device_train_batch_size={trl['per_device_train_batch_size']}, "
            f"gradient_accumulation_steps={trl['gradient_accumulation_steps']}",
        ),
        SettingRow(
            "steps", f"trainer.total_steps={trainer.total_steps}", f"max_steps={trl['max_steps']}"
        ),
        SettingRow(
            "learning rate", f"trainer.lr={trainer.lr:g}", f"learning_rate={trl['learning_rate']:g}"
        ),
        SettingRow(
            "schedule",
            f"lr_scheduler={trainer.lr_scheduler}, warmup={trainer.warmup_steps}",
            f"lr_scheduler_type={trl['lr_scheduler_type']}, warmup_steps={trl['warmup_steps']}",
        ),
        SettingRow(
            "AdamW",
            f"betas={tuple(trainer.betas)}, weight_decay={trainer.weight_decay:g}",
            f"adam_beta1/2=({trl['adam_beta1']}, {trl['adam_beta2']}), "
            f"weight_decay={trl['weight_decay']:g}",
        ),
        SettingRow(
            "grad clip",
            f"grad_clip={trainer.grad_clip:g}",
            f"max_grad_norm={trl['max_grad_norm']:g}",
        ),
        SettingRow(
            "PPO clip",
            f"clip_ratio_low/high={trainer.clip_ratio_low}/{trainer.clip_ratio_high}",
            f"epsilon/epsilon_high={trl['epsilon']}/{trl['epsilon_high']}",
        ),
        SettingRow(
            "epochs per batch",
            f"ppo_epochs={trainer.ppo_epochs}",
            f"num_iterations={trl['num_iterations']}",
        ),
        SettingRow("KL", f"kl_coef={trainer.kl_coef:g}", f"beta={trl['beta']:g}"),
        SettingRow(
            "loss aggregation",
            f"loss_agg={trainer.loss_agg}",
            f"loss_type={trl['loss_type']}",
            "both average over every completion token of the step",
        ),
        SettingRow(
            "advantage",
            "(r - group mean) / group std",
            f"scale_rewards={trl['scale_rewards']}",
        ),
        SettingRow(
            "groups with equal rewards",
            f"equal_reward_groups={rollout.equal_reward_groups}",
            "kept (advantage 0)",
            "no TRL setting; with 'drop' they leave AgentJet's token average, in TRL they "
            "dilute it",
        ),
        SettingRow(
            "sampling",
            f"temperature={rollout.temperature}, top_p={rollout.top_p}, top_k={rollout.top_k}",
            f"temperature={trl['temperature']}, top_p={trl['top_p']}, top_k={trl['top_k']}",
        ),
        SettingRow(
            "reply tokens",
            f"max_tokens_per_call={rollout.max_tokens_per_call}",
            f"max_completion_length={trl['max_completion_length']}",
        ),
        SettingRow(
            "activation checkpointing",
            "none",
            f"gradient_checkpointing={trl['gradient_checkpointing']}",
            "TRL's default is True",
        ),
        SettingRow("seed", f"experiment.seed={config.experiment.seed}", f"seed={trl['seed']}"),
        SettingRow(
            "weights saved every",
            "checkpoint.every_n_steps (model, AdamW, RNG; fsynced)",
            f"save_steps={trl['save_steps']}, save_only_model=True",
        ),
    ]


# ---------------------------------------------------------------------------- the race's numbers


@dataclass(frozen=True)
class EvalPoint:
    """Held-out greedy success of one saved model, at the wall time it was saved."""

    trainer: str
    step: int
    seconds: float
    accuracy: float


def time_to_accuracy(points: list[EvalPoint], target: float) -> EvalPoint | None:
    """The earliest point whose accuracy reaches ``target``; None if none does. No
    interpolation: between two checkpoints nothing was measured."""
    for point in sorted(points, key=lambda p: p.seconds):
        if point.accuracy >= target - ACCURACY_TOLERANCE:
            return point
    return None


def race_summary(ajet: list[EvalPoint], trl: list[EvalPoint]) -> dict[str, Any]:
    """TRL's final accuracy is the target; the ratio is AgentJet's time to it over TRL's."""
    if not ajet or not trl:
        raise ValueError("race_summary needs eval points from both trainers")
    trl_final = max(trl, key=lambda p: p.seconds)
    ajet_final = max(ajet, key=lambda p: p.seconds)
    target = trl_final.accuracy
    ajet_hit = time_to_accuracy(ajet, target)
    trl_hit = time_to_accuracy(trl, target)
    assert trl_hit is not None  # TRL's own final point reaches its own accuracy
    ratio = ajet_hit.seconds / trl_hit.seconds if ajet_hit and trl_hit.seconds > 0 else None
    return {
        "target_accuracy": target,
        "ajet_final_accuracy": ajet_final.accuracy,
        "ajet_final_seconds": ajet_final.seconds,
        "trl_final_seconds": trl_final.seconds,
        "ajet_seconds_to_target": ajet_hit.seconds if ajet_hit else None,
        "ajet_step_at_target": ajet_hit.step if ajet_hit else None,
        "trl_seconds_to_target": trl_hit.seconds,
        "trl_step_at_target": trl_hit.step,
        "time_ratio_ajet_over_trl": ratio,
        "goal_met": ratio is not None and ratio <= 0.5,
    }


# ---------------------------------------------------------------------------- where the time goes

# Where a sampled stack spent its time, by the first rule whose text one of its frames holds
# (py-spy frames read "function (path/file.py:line)"). Order matters: saving and the optimizer
# run inside the training loop's frames, generation inside the rollout's.
PROFILE_BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("saving weights", ("save_checkpoint", "_save_checkpoint", "save_pretrained", "_fsync")),
    ("optimizer step", ("(torch/optim/",)),
    ("generation", ("ajet_backbone_debug/engine/", "(transformers/generation/")),
    ("backward", ("(torch/autograd/", "backward (torch/_tensor.py")),
    (
        "training forward",
        ("ajet_backbone_debug/training/", "compute_loss", "_compute_loss", "get_per_token_logps"),
    ),
    ("loading the model", ("from_pretrained",)),
    ("imports", ("_find_and_load",)),
]


def profile_buckets(raw: str) -> dict[str, float]:
    """Share of py-spy samples per bucket, from its raw (collapsed-stack) output: one line per
    distinct stack, frames joined by ';', then the sample count."""
    counts: dict[str, int] = {}
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        bucket = next(
            (name for name, marks in PROFILE_BUCKETS if any(m in stack for m in marks)), "other"
        )
        counts[bucket] = counts.get(bucket, 0) + int(count)
    total = sum(counts.values())
    return {name: n / total for name, n in sorted(counts.items(), key=lambda kv: -kv[1])}


# ---------------------------------------------------------------------------- evaluation


def greedy_success(
    model_dir: Path, tokenizer_dir: Path, tasks: list[dict[str, Any]], judger: Any, max_tokens: int
) -> float:
    """Held-out success of one model folder: greedy replies to each task's question in the
    chat template, judged like an AgentJet episode. The one eval both trainers get. The
    tokenizer (and template) come from the base model: training changes neither, and the two
    trainers' saves need not copy the same tokenizer files."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ajet_core.schema import Task
    from ajet_core.workflow import WorkflowOutput

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": task["main_query"]}],
            add_generation_prompt=True,
            tokenize=False,
        )
        for task in tasks
    ]
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        output = model.generate(
            **batch,
            do_sample=False,
            max_new_tokens=max_tokens,
            pad_token_id=tokenizer.pad_token_id,
        )
    replies = tokenizer.batch_decode(
        output[:, batch["input_ids"].shape[1] :], skip_special_tokens=True
    )
    successes = 0
    for task, reply in zip(tasks, replies):
        verdict = judger.judge(Task(**task), WorkflowOutput(metadata={"final_answer": reply}))
        successes += bool(verdict.is_success)
    return successes / len(tasks)


def load_judger(config: Any) -> Any:
    """The config's judger, found and validated by AgentJet's plugin loader."""
    from ajet_core.config.plugin_sections import resolve_section
    from ajet_core.plugins.manager import get_plugin_manager
    from ajet_core.training.components import instantiate

    return instantiate(resolve_section(config, "judger", get_plugin_manager()))


def read_tasks(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------------------- running trainers


def run_with_budget(
    command: list[str], log: Path, budget_s: float, env: dict[str, str], profile: Path | None
) -> dict:
    """Run a trainer until it ends or its budget is spent (then Ctrl-C, then kill); with
    ``profile``, py-spy samples its stacks (20 Hz, without pausing it) into that raw file."""
    started = time.time()
    load_before = os.getloadavg()[0]
    with log.open("w") as handle:
        process = subprocess.Popen(
            command, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, env=env
        )
        sampler = None
        if profile is not None:
            sampler = subprocess.Popen(
                [
                    str(TRL_VENV / "bin" / "py-spy"),
                    "record",
                    "--pid",
                    str(process.pid),
                    "--rate",
                    "20",
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--output",
                    str(profile),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        try:
            process.wait(timeout=budget_s)
            stopped = False
        except subprocess.TimeoutExpired:
            stopped = True
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if sampler is not None:
            try:
                sampler.wait(timeout=60)  # py-spy writes its file once its process has ended
            except subprocess.TimeoutExpired:
                sampler.kill()  # no profile, but the race's numbers stand
    return {
        "launched_at": started,
        "wall_seconds": time.time() - started,
        "returncode": process.returncode,
        "stopped_by_budget": stopped,
        # The machine is shared: the 1-minute load average says how contended the run was.
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "log": str(log),
    }


def last_write(folder: Path) -> float:
    """When a checkpoint was complete: the newest modification time of any file in it."""
    return max(p.stat().st_mtime for p in folder.rglob("*") if p.is_file())


def ajet_checkpoints(run_root: Path) -> list[tuple[int, Path, float]]:
    """(step, model folder, time written) of each AgentJet checkpoint under run_root."""
    found = []
    for state in run_root.glob("*/*/checkpoints/step_*/loop_state.json"):
        step_dir = state.parent
        found.append(
            (
                json.loads(state.read_text())["step"],
                step_dir / "trainer" / "model",
                last_write(step_dir),
            )
        )
    return sorted(found)


def trl_checkpoints(output_dir: Path) -> list[tuple[int, Path, float]]:
    """(step, model folder, time written) of each TRL checkpoint (checkpoint-<step>/)."""
    found = []
    for folder in output_dir.glob("checkpoint-*"):
        if (folder / "trainer_state.json").exists():
            found.append((int(folder.name.split("-")[1]), folder, last_write(folder)))
    return sorted(found)


def ensure_trl_env() -> Path:
    """Create .venvs/trl (pip only) unless it already has the pinned TRL."""
    python = TRL_VENV / "bin" / "python"
    check = [str(python), "-c", "import trl, sys; sys.exit(trl.__version__ != '1.16.0')"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    interpreter = shutil.which("python3.11") or sys.executable
    print(f"creating {TRL_VENV} (pip: {' '.join(TRL_REQUIREMENTS)})", flush=True)
    subprocess.run([interpreter, "-m", "venv", str(TRL_VENV)], check=True)
    editable = [arg for path in TRL_EDITABLE for arg in ("-e", str(REPO / path))]
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--no-compile",
            "--progress-bar",
            "off",
            *TRL_REQUIREMENTS,
            *editable,
        ],
        check=True,
    )
    return python


def trl_worker(settings_path: Path) -> None:
    """Runs inside .venvs/trl: TRL's GRPOTrainer with the mapped settings."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from ajet_core.config.loader import load_config
    from ajet_core.schema import Task
    from ajet_core.workflow import WorkflowOutput

    job = json.loads(settings_path.read_text())
    config = load_config(job["config"], job["overrides"]).config
    judger = load_judger(config)
    tasks = read_tasks(Path(job["train_path"]))
    dataset = Dataset.from_list(
        [
            {"prompt": [{"role": "user", "content": t["main_query"]}], "task": json.dumps(t)}
            for t in tasks
        ]
    )

    def quickstart_reward(completions: list, task: list[str], **_: Any) -> list[float]:
        # The same judger call an AgentJet episode ends with: the reply's text as final_answer.
        rewards = []
        for completion, raw in zip(completions, task):
            reply = completion[-1]["content"]
            result = judger.judge(
                Task(**json.loads(raw)), WorkflowOutput(metadata={"final_answer": reply})
            )
            rewards.append(float(result.reward))
        return rewards

    trainer = GRPOTrainer(
        model=job["model"],
        reward_funcs=quickstart_reward,
        args=GRPOConfig(**job["trl"]),
        train_dataset=dataset,
    )
    trainer.train()


# ---------------------------------------------------------------------------- the benchmark


def race(args: argparse.Namespace) -> dict[str, Any]:
    from ajet_core.config.loader import load_config

    out: Path = args.out
    data = out / "data"
    subprocess.run(
        [sys.executable, "tutorial/quickstart/make_data.py", "--out", str(data)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    overrides = [
        f"model.path={args.model}",
        f"task_reader.train_path={data / 'train.jsonl'}",
        f"task_reader.validation_path={data / 'validation.jsonl'}",
        f"trainer.total_steps={args.steps}",
        *args.overrides,
    ]
    config = load_config(QUICKSTART, overrides).config
    trl = trl_settings(config, save_every=args.save_every, output_dir=str(out / "trl"))
    rows = settings_rows(config, trl)
    print_settings(rows)

    # The same torch thread count for both trainers and the evals (torch reads it at start).
    threads = str(args.threads)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    }
    budget_s = args.budget_minutes * 60
    # Made first: it also holds py-spy, which samples the AgentJet run too.
    python = ensure_trl_env()
    job = out / "trl_job.json"
    job.write_text(
        json.dumps(
            {
                "config": str(QUICKSTART),
                "overrides": overrides,
                "model": str(args.model),
                "train_path": str(data / "train.jsonl"),
                "trl": trl,
            }
        )
    )
    commands = {
        "ajet": [
            sys.executable,
            "-m",
            "ajet_core.cli.main",
            "train",
            "--conf",
            str(QUICKSTART),
            "--backbone",
            "debug",
            *overrides,
            f"experiment.output_dir={out / 'ajet'}",
            # The race's evals happen afterwards, on saved weights, for both trainers alike.
            "eval.before_train=false",
            "eval.after_train=false",
            f"checkpoint.every_n_steps={args.save_every}",
            "checkpoint.keep_last=1000",
            "logging.loggers=[jsonl]",
            "logging.records=none",
        ],
        "trl": [str(python), str(Path(__file__).resolve()), "trl-worker", str(job)],
    }

    def run(name: str) -> dict:
        return reuse_or_run(out / name, commands[name], budget_s, env, args.profile)

    if args.one_at_a_time:
        runs = {name: run(name) for name in args.trainers}
    else:
        # Side by side, each on its own torch threads: on a machine shared with other work both
        # then see the same load, which running one after the other cannot promise.
        with ThreadPoolExecutor(len(args.trainers)) as pool:
            futures = {name: pool.submit(run, name) for name in args.trainers}
            runs = {name: future.result() for name, future in futures.items()}

    import torch

    torch.set_num_threads(args.threads)
    judger = load_judger(config)
    held_out = read_tasks(data / "validation.jsonl")
    evaluated = out / "evals.json"
    cache = json.loads(evaluated.read_text()) if evaluated.exists() else {}

    def evaluate(model_dir: Path) -> float:
        key = str(model_dir)
        if key not in cache:
            began = time.perf_counter()
            cache[key] = greedy_success(
                model_dir, args.model, held_out, judger, config.rollout.max_tokens_per_call
            )
            print(
                f"  eval {model_dir}: {cache[key]:.3f} ({time.perf_counter() - began:.0f} s)",
                flush=True,
            )
            evaluated.write_text(json.dumps(cache, indent=2))
        return cache[key]

    base = evaluate(Path(args.model))
    points: dict[str, list[EvalPoint]] = {}
    finders = {
        "ajet": lambda: ajet_checkpoints(out / "ajet"),
        "trl": lambda: trl_checkpoints(out / "trl"),
    }
    for name, run in runs.items():
        points[name] = [EvalPoint(name, 0, 0.0, base)] + [
            EvalPoint(name, step, written - run["launched_at"], evaluate(model_dir))
            for step, model_dir, written in finders[name]()
            # AgentJet also saves when Ctrl-C stops it at the budget, TRL does not: only the
            # every-N-steps saves count, so both are measured at the same steps.
            if step % args.save_every == 0
        ]
        if args.drop_weights:
            drop_saved_weights(out / name)
    result = {
        "settings": [asdict(row) for row in rows],
        "trl_settings": trl,
        "runs": runs,
        "points": {name: [asdict(p) for p in pts] for name, pts in points.items()},
        "summary": race_summary(points["ajet"], points["trl"]) if len(points) == 2 else None,
        "side_by_side": not args.one_at_a_time,
        "threads": args.threads,
        "command": " ".join(sys.argv),
    }
    (out / "results.json").write_text(json.dumps(result, indent=2))
    print_race(points, runs, result["summary"])
    print(f"results: {out / 'results.json'}")
    return result


def reuse_or_run(
    folder: Path, command: list[str], budget_s: float, env: dict[str, str], profile: bool
) -> dict:
    done = folder / "run.json"
    if done.exists():
        previous = json.loads(done.read_text())
        if previous["returncode"] == 0 or previous["stopped_by_budget"]:
            print(f"reusing the finished run in {folder}", flush=True)
            return previous
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(
        f"running {folder.name} (budget {budget_s / 60:.0f} min) -> {folder}",
        flush=True,
    )
    profile_path = folder / "profile.txt" if profile else None
    run = run_with_budget(command, folder / "train.log", budget_s, env, profile_path)
    if profile_path is not None and profile_path.exists():
        run["profile"] = profile_buckets(profile_path.read_text())
    done.write_text(json.dumps(run))
    print(
        f"  done in {run['wall_seconds']:.0f} s (exit {run['returncode']}, "
        f"stopped by budget: {run['stopped_by_budget']})",
        flush=True,
    )
    return run


def drop_saved_weights(folder: Path) -> None:
    """Once evaluated, the checkpoints' large files go (each AgentJet checkpoint is ~1.6 GB)."""
    for path in list(folder.rglob("*.safetensors")) + list(folder.rglob("*.pt")):
        path.unlink()


def print_settings(rows: list[SettingRow]) -> None:
    width = max(len(r.ajet) for r in rows)
    print(f"{'setting':<28} {'ajet train --backbone debug':<{width}}  TRL GRPOTrainer (GRPOConfig)")
    for row in rows:
        print(f"{row.what:<28} {row.ajet:<{width}}  {row.trl}")
        if row.note:
            print(f"{'':<28} ({row.note})")


def print_race(
    points: dict[str, list[EvalPoint]], runs: dict[str, dict], summary: dict | None
) -> None:
    print(f"\n{'trainer':<8} {'step':>5} {'wall s':>8} {'held-out':>9}")
    for name, pts in points.items():
        for p in pts:
            print(f"{name:<8} {p.step:>5} {p.seconds:>8.0f} {p.accuracy:>9.3f}")
        print(
            f"{name:<8} process wall {runs[name]['wall_seconds']:.0f} s, "
            f"exit {runs[name]['returncode']}, stopped by budget: {runs[name]['stopped_by_budget']}"
        )
    for name, run in runs.items():
        if run.get("profile"):
            shares = ", ".join(f"{bucket} {share:.0%}" for bucket, share in run["profile"].items())
            print(f"{name:<8} where the sampled time went: {shares}")
    if summary is None:
        return
    ratio = summary["time_ratio_ajet_over_trl"]
    print(
        f"\ntarget = TRL's final held-out accuracy {summary['target_accuracy']:.3f}; "
        f"TRL first reached it at {summary['trl_seconds_to_target']:.0f} s "
        f"(step {summary['trl_step_at_target']}); AgentJet "
        + (
            f"at {summary['ajet_seconds_to_target']:.0f} s (step {summary['ajet_step_at_target']})"
            if summary["ajet_seconds_to_target"] is not None
            else f"never (final {summary['ajet_final_accuracy']:.3f})"
        )
    )
    print(
        "time ratio ajet/TRL: "
        + (f"{ratio:.2f}" if ratio is not None else "n/a")
        + f"; goal (<= 0.5) met: {summary['goal_met']}"
    )


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "trl-worker":
        trl_worker(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="training steps for both")
    parser.add_argument("--save-every", type=int, default=5, help="steps between saved models")
    parser.add_argument("--budget-minutes", type=float, default=10.0, help="per trainer")
    parser.add_argument("--trainers", nargs="+", choices=["ajet", "trl"], default=["ajet", "trl"])
    parser.add_argument(
        "--model", type=Path, default=None, help="default: the test cache's SmolLM2"
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for each trainer and the evals (default 1: the dev machine's two "
        "cores are shared with other work)",
    )
    parser.add_argument(
        "--one-at-a-time",
        action="store_true",
        help="run the trainers one after the other (default: at the same time)",
    )
    parser.add_argument("--keep-weights", dest="drop_weights", action="store_false")
    parser.add_argument(
        "--no-profile", dest="profile", action="store_false", help="no py-spy sampling"
    )
    parser.add_argument("overrides", nargs="*", help="AgentJet config overrides for both")
    args = parser.parse_args()
    if args.model is None:
        from ajet_backbone_debug.models.model_cache import smollm2_path

        args.model = smollm2_path(REPO / ".cache")
    args.model = args.model.resolve()
    args.out = (args.out or Path(tempfile.mkdtemp(prefix="ajet-vs-trl-"))).resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    race(args)


if __name__ == "__main__":
    main()
