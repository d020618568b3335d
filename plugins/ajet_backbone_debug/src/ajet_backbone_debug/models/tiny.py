"""``ajet model init-tiny``: a ~0.27M-parameter Qwen2 model that knows the formats tests need.

Steps: (1) synthetic conversations, (2) a byte-level BPE tokenizer trained on their rendering,
(3) a randomly initialised Qwen2 model, (4) a few hundred AdamW steps on the assistant turns
only, extended while held-out format checks fail, (5) ``save_pretrained``. Under 30 s of CPU:
batches of similar lengths (little padding) and the output layer only where a reply token is
predicted (most tokens are prompt). Everything is seeded
and training runs single-threaded (a fixed float summation order), so the same seed gives the
same weights on the same machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ajet_backbone_debug.models.chat_template import CHAT_TEMPLATE
from ajet_backbone_debug.models.synthetic import Conversation, make_conversations
from ajet_core.errors import AjetError

PAD = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
# Single tokens for the tool-call tags make the format cheap to learn; not "special", so
# decoding with skip_special_tokens keeps them.
TAG_TOKENS = ["<tool_call>", "</tool_call>", "<tools>", "</tools>"]


class TinyModelFormatError(AjetError):
    """Training ended (at ``max_train_steps``) with held-out format checks still failing."""


@dataclass(frozen=True)
class TinySpec:
    """The recipe: ~0.27M parameters, about 15 s of training on one core (under 30 s of CPU for
    the whole ``ajet model init-tiny``, imports included)."""

    seed: int = 0
    vocab_size: int = 1024
    # Two narrow layers learn the formats in fewer CPU-seconds than three wider ones: measured
    # (3 x 128 wide needed ~400 steps of twice the cost for the same held-out checks).
    hidden_size: int = 96
    intermediate_size: int = 192
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    max_position_embeddings: int = 4096
    conversations: int = 2000
    train_steps: int = 450
    # Extra steps (in chunks of extra_steps, up to max_train_steps) while held-out checks fail.
    extra_steps: int = 50
    max_train_steps: int = 700
    validation_conversations: int = 60
    # Small batches, many steps: below a tiny model's critical batch size an update is worth more
    # than a larger batch, for the same tokens processed.
    batch_size: int = 8
    lr: float = 5e-3

    def fingerprint(self) -> str:
        """Names a build in the cache; changes whenever the recipe does."""
        recipe = json.dumps(
            {**asdict(self), "template": CHAT_TEMPLATE, "version": 5}, sort_keys=True
        )
        return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def _render_pieces(tokenizer: Any, conv: Conversation) -> list[tuple[str, bool]]:
    """The conversation's text as (piece, trained) pairs, split where assistant turns start.

    Prompt and reply are tokenised separately, as at inference time, where the prompt ends
    with ``<|im_start|>assistant\\n`` and the model continues from there.
    """
    pieces: list[tuple[str, bool]] = []
    done = ""
    for index in conv.trained:
        prompt = tokenizer.apply_chat_template(
            conv.messages[:index], tools=conv.tools, add_generation_prompt=True, tokenize=False
        )
        full = tokenizer.apply_chat_template(
            conv.messages[: index + 1], tools=conv.tools, tokenize=False
        )
        assert prompt.startswith(done) and full.startswith(prompt), "template is not prefix-stable"
        reply = full[len(prompt) :]
        # Train on the reply through <|im_end|>; the newline after it belongs to the next prompt.
        assert reply.endswith(IM_END + "\n")
        pieces += [(prompt[len(done) :], False), (reply[:-1], True)]
        done = full[:-1]
    return pieces


def train_tokenizer(texts: list[str], spec: TinySpec) -> Any:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size - len(TAG_TOKENS),
        special_tokens=[PAD, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAG_TOKENS])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=PAD,
        chat_template=CHAT_TEMPLATE,
        padding_side="left",
        model_max_length=spec.max_position_embeddings,
    )


def _template_tokenizer() -> Any:
    """A throwaway tokenizer that only renders the chat template (to build the BPE corpus)."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.BPE()), chat_template=CHAT_TEMPLATE
    )


def _batches(examples, spec: TinySpec, order):
    """Endless training batches: shuffled examples, sorted by length within windows of a few
    batches so a batch pads little, then the batches of a window in random order."""
    import torch

    window = spec.batch_size * 8
    while True:
        perm = torch.randperm(len(examples), generator=order).tolist()
        for start in range(0, len(perm), window):
            chunk = sorted(perm[start : start + window], key=lambda i: len(examples[i][0]))
            batches = [
                chunk[i : i + spec.batch_size] for i in range(0, len(chunk), spec.batch_size)
            ]
            for b in torch.randperm(len(batches), generator=order).tolist():
                yield [examples[i] for i in batches[b]]


def _train(model, batches, pad: int, optimizer, steps: int, lr: float, log) -> float:
    """``steps`` AdamW steps on right-padded batches. The output layer runs only where a reply
    token is predicted (most tokens are prompt, which carries no loss)."""
    import torch

    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=steps, pct_start=0.1
    )
    model.train()
    loss_value = float("nan")
    for step in range(steps):
        batch = next(batches)
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad)
        trained = torch.zeros((len(batch), width), dtype=torch.bool)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (ids, mask) in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention[row, : len(ids)] = 1
            trained[row, : len(ids)] = torch.tensor(mask, dtype=torch.bool)
        hidden = model.model(input_ids=input_ids, attention_mask=attention).last_hidden_state
        # Position t predicts token t+1: keep the positions whose next token is a reply token.
        predicting = trained[:, 1:]
        logits = model.lm_head(hidden[:, :-1][predicting])
        loss = torch.nn.functional.cross_entropy(logits, input_ids[:, 1:][predicting])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        loss_value = loss.item()
        if step % 25 == 0 or step == steps - 1:
            log(f"step {step:4d}  loss {loss_value:.4f}")
    model.eval()
    return loss_value


def validate_formats(
    model, tokenizer, conversations: list[Conversation], max_new_tokens: int = 64
) -> list[str]:
    """Greedy replies to the first trained turn of each conversation and to the probes; the ones
    whose format is wrong (a tool call that does not parse or names a tool not offered, no
    ``\\boxed{}``, no score line). Runs the prompts as one batch through the engine."""
    import asyncio

    from ajet_backbone_debug.engine import TransformersEngine
    from ajet_backbone_debug.models.probes import PROBES, check_reply, parse_tool_calls
    from ajet_core.engine import SamplingParams

    # The probes too: their wording and values (a city never seen in training) are what the
    # tests ask, so a build passes only if the model generalises that far.
    cases = [
        (
            kind,
            tokenizer.apply_chat_template(
                messages, tools=tools, add_generation_prompt=True, return_dict=False
            ),
            {t["function"]["name"] for t in tools or []},
        )
        for kind, messages, tools in PROBES
    ]
    for conv in conversations:
        index = conv.trained[0]
        expected = conv.messages[index]
        if expected.get("tool_calls"):
            kind = "tool"
        elif "\\boxed{" in expected["content"]:
            kind = "boxed"
        elif "Score:" in expected["content"]:
            kind = "score"
        else:
            continue
        ids = tokenizer.apply_chat_template(
            conv.messages[:index], tools=conv.tools, add_generation_prompt=True, return_dict=False
        )
        offered = {t["function"]["name"] for t in conv.tools or []}
        cases.append((kind, ids, offered))

    async def replies():
        engine = TransformersEngine(model, tokenizer, max_batch_size=len(cases) or 1)
        try:
            sampling = SamplingParams(temperature=0, max_tokens=max_new_tokens)
            return await asyncio.gather(*(engine.generate(ids, sampling) for _, ids, _ in cases))
        finally:
            engine.close()

    failures = []
    for (kind, _, offered), gen in zip(cases, asyncio.run(replies())):
        text = tokenizer.decode(gen.token_ids, skip_special_tokens=True)
        ok = check_reply(kind, text)
        if ok and kind == "tool":
            ok = all(call["name"] in offered for call in parse_tool_calls(text))
        if not ok:
            failures.append(text)
    return failures


def build_tiny_model(out_dir: str | Path, spec: TinySpec = TinySpec(), log=print) -> dict[str, Any]:
    """Build, train and save the tiny model into ``out_dir``; returns a small report."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    started, cpu_started = time.perf_counter(), time.process_time()
    out_dir = Path(out_dir)
    torch.manual_seed(spec.seed)

    # 1. Synthetic conversations, rendered with the chat template.
    conversations = make_conversations(spec.conversations, spec.seed)
    renderer = _template_tokenizer()
    rendered = [_render_pieces(renderer, c) for c in conversations]

    # 2. Tokenizer: byte-level BPE trained on exactly that text.
    tokenizer = train_tokenizer(["".join(p for p, _ in pieces) for pieces in rendered], spec)

    # 3. Token ids with a loss mask that covers only the assistant replies.
    examples = []
    for pieces in rendered:
        ids: list[int] = []
        mask: list[int] = []
        for text, trained in pieces:
            piece_ids = tokenizer.encode(text, add_special_tokens=False)
            ids += piece_ids
            mask += [int(trained)] * len(piece_ids)
        examples.append((ids, mask))

    # 4. A fresh Qwen2 model.
    im_end = tokenizer.convert_tokens_to_ids(IM_END)
    pad = tokenizer.convert_tokens_to_ids(PAD)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=im_end,
        pad_token_id=pad,
    )
    model = Qwen2ForCausalLM(config)
    n_params = sum(p.numel() for p in model.parameters())
    log(
        f"{len(examples)} conversations, a {len(tokenizer)}-token tokenizer, {n_params:,} "
        f"parameters; training {spec.train_steps} steps"
    )

    # 5. Train on the replies, then check the formats on held-out synthetic prompts; while some
    # fail, train a little more (up to a cap). Deterministic: the same seed takes the same path.
    # One thread: small matmuls gain little from a second one, a busy machine (tests running in
    # parallel) makes extra threads spin, and a fixed summation order keeps builds reproducible.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    order = torch.Generator().manual_seed(spec.seed)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=spec.lr, weight_decay=0.0, betas=(0.9, 0.98)
    )
    try:
        batches = _batches(examples, spec, order)
        loss_value = _train(model, batches, pad, optimizer, spec.train_steps, spec.lr, log)
        steps = spec.train_steps
        # validation_conversations=0 skips the checks (quick builds for plumbing tests).
        validation = make_conversations(spec.validation_conversations, spec.seed + 1_000_003)
        failures = validate_formats(model, tokenizer, validation) if validation else []
        while failures and steps < spec.max_train_steps:
            log(
                f"{len(failures)} held-out format failures after {steps} steps, "
                f"e.g. {failures[0]!r}; training on"
            )
            loss_value = _train(model, batches, pad, optimizer, spec.extra_steps, spec.lr / 3, log)
            steps += spec.extra_steps
            failures = validate_formats(model, tokenizer, validation)
    finally:
        torch.set_num_threads(threads)
    if failures:
        raise TinyModelFormatError(
            f"the tiny model still fails {len(failures)} held-out format checks after {steps} "
            f"steps (e.g. {failures[0]!r}); try another --seed or a larger --max-steps"
        )
    if validation:
        log(f"all {len(validation)} held-out format checks pass after {steps} steps")
    model.eval()

    # 6. Save next to a record of how it was made. Write to a temp dir first so a crash never
    # leaves a half-written model that a cache would treat as complete.
    model.generation_config = GenerationConfig(eos_token_id=im_end, pad_token_id=pad)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-", dir=out_dir.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    report = {
        "spec": asdict(spec),
        "fingerprint": spec.fingerprint(),
        "parameters": n_params,
        "final_loss": round(loss_value, 4),
        "train_steps": steps,
        "held_out_checks": len(validation),
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),
    }
    (tmp / "ajet_tiny.json").write_text(json.dumps(report, indent=2))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    log(f"built in {report['seconds']} s ({report['cpu_seconds']} s of CPU in this process)")
    return report


def cached_tiny_model(cache_dir: str | Path, spec: TinySpec = TinySpec()) -> Path | None:
    """The cached build of ``spec`` under ``cache_dir``, or None when there is none."""
    target = Path(cache_dir) / f"tiny-{spec.fingerprint()}"
    return target if (target / "ajet_tiny.json").exists() else None


def ensure_tiny_model(
    cache_dir: str | Path | None = None,
    spec: TinySpec = TinySpec(),
    log: Callable[[str], None] = lambda _message: None,
) -> Path:
    """The tiny model's directory, built when missing and cached by recipe fingerprint.

    ``cache_dir`` defaults to ``$AJET_TEST_CACHE`` or ``.cache/`` in the current directory.
    A file lock keeps parallel processes from building it twice.
    """
    import fcntl

    root = Path(cache_dir or os.environ.get("AJET_TEST_CACHE") or ".cache")
    found = cached_tiny_model(root, spec)
    if found is not None:
        return found
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".tiny-{spec.fingerprint()}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = cached_tiny_model(root, spec)
        if found is None:
            found = root / f"tiny-{spec.fingerprint()}"
            build_tiny_model(found, spec, log=log)
    return found
