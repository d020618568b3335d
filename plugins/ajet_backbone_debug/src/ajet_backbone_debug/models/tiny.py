"""``ajet model init-tiny``: a ~0.6M-parameter Qwen2 model that knows the formats tests need.

Steps: (1) synthetic conversations, (2) a byte-level BPE tokenizer trained on their rendering,
(3) a randomly initialised Qwen2 model, (4) a few hundred AdamW steps on the assistant turns
only, extended while held-out format checks fail, (5) ``save_pretrained``. Everything is seeded
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
    """The recipe: ~0.6M parameters, 2-2.5 minutes of CPU time on one core."""

    seed: int = 0
    vocab_size: int = 1024
    hidden_size: int = 128
    intermediate_size: int = 256
    num_layers: int = 3
    num_heads: int = 4
    num_kv_heads: int = 2
    max_position_embeddings: int = 4096
    conversations: int = 3000
    train_steps: int = 400
    # Extra steps (in chunks of extra_steps, up to max_train_steps) while held-out checks fail.
    extra_steps: int = 50
    max_train_steps: int = 800
    validation_conversations: int = 60
    batch_size: int = 16
    lr: float = 3e-3

    def fingerprint(self) -> str:
        """Names a build in the cache; changes whenever the recipe does."""
        recipe = json.dumps(
            {**asdict(self), "template": CHAT_TEMPLATE, "version": 3}, sort_keys=True
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


def _train(
    model, examples, pad: int, optimizer, steps: int, lr: float, spec: TinySpec, order, log
) -> float:
    """``steps`` AdamW steps on random right-padded batches (padding carries no loss)."""
    import torch

    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=steps, pct_start=0.1
    )
    model.train()
    loss_value = float("nan")
    for step in range(steps):
        picks = torch.randint(len(examples), (spec.batch_size,), generator=order).tolist()
        batch = [examples[i] for i in picks]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad)
        labels = torch.full((len(batch), width), -100)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (ids, mask) in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention[row, : len(ids)] = 1
            labels[row, : len(ids)] = torch.tensor([t if m else -100 for t, m in zip(ids, mask)])
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        loss_value = loss.item()
        if step % 100 == 0 or step == steps - 1:
            log(f"step {step:4d}  loss {loss_value:.4f}")
    model.eval()
    return loss_value


def validate_formats(
    model, tokenizer, conversations: list[Conversation], max_new_tokens: int = 64
) -> list[str]:
    """Greedy replies to the first trained turn of each conversation; the ones whose format is
    wrong (a tool call that does not parse or names a tool not offered, no ``\\boxed{}``, no score
    line). Runs the prompts as one batch through the engine."""
    import asyncio

    from ajet_backbone_debug.engine import TransformersEngine
    from ajet_backbone_debug.models.probes import check_reply, parse_tool_calls
    from ajet_core.engine import SamplingParams

    cases = []
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

    started = time.perf_counter()
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
    loss_value = _train(
        model, examples, pad, optimizer, spec.train_steps, spec.lr, spec, order, log
    )
    steps = spec.train_steps
    # validation_conversations=0 skips the checks (quick builds for plumbing tests).
    validation = make_conversations(spec.validation_conversations, spec.seed + 1_000_003)
    failures = validate_formats(model, tokenizer, validation) if validation else []
    while failures and steps < spec.max_train_steps:
        log(
            f"{len(failures)} held-out format failures after {steps} steps, e.g. {failures[0]!r}; "
            "training on"
        )
        loss_value = _train(
            model, examples, pad, optimizer, spec.extra_steps, spec.lr / 3, spec, order, log
        )
        steps += spec.extra_steps
        failures = validate_formats(model, tokenizer, validation)
    torch.set_num_threads(threads)
    if failures:
        raise TinyModelFormatError(
            f"the tiny model still fails {len(failures)} held-out format checks after {steps} "
            f"steps (e.g. {failures[0]!r}); try another --seed or a larger --max-steps"
        )
    model.eval()

    # 6. Save next to a record of how it was made. Write to a temp dir first so a crash never
    # leaves a half-written model that a cache would treat as complete.
    model.generation_config = GenerationConfig(eos_token_id=im_end, pad_token_id=pad)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-", dir=out_dir.parent))
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
    }
    (tmp / "ajet_tiny.json").write_text(json.dumps(report, indent=2))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return report


def ensure_tiny_model(cache_dir: str | Path | None = None, spec: TinySpec = TinySpec()) -> Path:
    """The tiny model's directory, built on first use and cached by recipe fingerprint.

    ``cache_dir`` defaults to ``$AJET_TEST_CACHE`` or ``.cache/`` in the current directory.
    A file lock keeps parallel test workers from building it twice.
    """
    import fcntl

    root = Path(cache_dir or os.environ.get("AJET_TEST_CACHE") or ".cache")
    target = root / f"tiny-{spec.fingerprint()}"
    if (target / "ajet_tiny.json").exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".tiny-{spec.fingerprint()}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "ajet_tiny.json").exists():
            build_tiny_model(target, spec, log=lambda _msg: None)
    return target
