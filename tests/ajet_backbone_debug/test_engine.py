"""The transformers engine on the real tiny model: logprobs, batching, stops, seeds, limits."""

from __future__ import annotations

import asyncio

import pytest
import torch
from ajet_backbone_debug.engine import TransformersEngine
from ajet_backbone_debug.engine.sampling import filter_logits

from ajet_core.engine import ContextLengthExceeded, Engine, EngineError, SamplingParams

GREEDY = SamplingParams(temperature=0, max_tokens=40)
LONG = 300

QUESTIONS = [
    [{"role": "user", "content": "What is 12 + 30?"}],
    [{"role": "user", "content": "Hello!"}],
    [
        {"role": "system", "content": "You are a strict judge. Rate the answer from 0 to 10."},
        {"role": "user", "content": "Question: What is 2 + 2?\nAnswer: 5\nRate the answer."},
    ],
    [{"role": "user", "content": "Compute 7 * 8."}],
    [{"role": "user", "content": "Tell me a joke."}],
    [{"role": "user", "content": "What is the weather in Rome?"}],
]


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    # float32 wherever it runs: the properties below hold to 1e-4, which bf16 (the GPU default)
    # does not.
    eng = TransformersEngine.from_path(str(tiny_model_dir), max_model_len=512, dtype="float32")
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def endless(engine):
    """The same model with no EOS: generations run to max_tokens (long-running requests)."""
    eng = TransformersEngine(engine.model, engine.tokenizer, max_model_len=512, eos_token_ids=[])
    yield eng
    eng.close()


def prompt(engine, messages, tools=None) -> list[int]:
    return engine.tokenizer.apply_chat_template(
        messages, tools=tools, add_generation_prompt=True, return_dict=False
    )


def full_forward_logprobs(model, prompt_ids, response_ids, temperature=1.0) -> list[float]:
    ids = torch.tensor([prompt_ids + response_ids], device=model.device)
    with torch.no_grad():
        logits = model(ids).logits[0].float()
    logprobs = torch.log_softmax(logits / temperature, dim=-1)
    start = len(prompt_ids) - 1
    return [float(logprobs[start + i, t]) for i, t in enumerate(response_ids)]


def test_engine_satisfies_the_protocol(engine):
    assert isinstance(engine, Engine)
    assert engine.max_model_len == 512
    assert engine.tokenizer.eos_token_id in engine.eos_ids


async def test_greedy_logprobs_match_a_full_forward_pass(engine):
    ids = prompt(engine, QUESTIONS[0])
    gen = await engine.generate(ids, GREEDY)
    assert gen.finish_reason == "stop" and gen.token_ids[-1] == engine.tokenizer.eos_token_id
    # Greedy records the T=1 logprob of the argmax token.
    expected = full_forward_logprobs(engine.model, ids, gen.token_ids)
    assert gen.logprobs == pytest.approx(expected, abs=1e-4)


async def test_sampled_logprobs_are_full_vocab_log_softmax_of_logits_over_t(endless):
    ids = prompt(endless, QUESTIONS[2])
    # top_k/top_p change which tokens can be drawn, not the recorded full-vocabulary logprob.
    sampling = SamplingParams(temperature=0.7, top_p=0.9, top_k=50, max_tokens=30, seed=5)
    gen = await endless.generate(ids, sampling)
    assert len(gen.token_ids) == 30 and gen.finish_reason == "length"
    expected = full_forward_logprobs(endless.model, ids, gen.token_ids, temperature=0.7)
    assert gen.logprobs == pytest.approx(expected, abs=1e-4)


async def test_concurrent_requests_share_a_batch_without_changing_results(endless):
    prompts = [prompt(endless, q) for q in QUESTIONS] * 2  # 12 rows, prompts of different lengths
    sampling = SamplingParams(temperature=0, max_tokens=24)
    singles = [await endless.generate(p, sampling) for p in prompts[: len(QUESTIONS)]]
    steps_before = endless.steps
    batched = await asyncio.gather(*(endless.generate(p, sampling) for p in prompts))
    assert endless.max_rows_seen >= 8  # they really were decoded together
    assert endless.steps - steps_before < 24 * 2  # ~one step per token for all rows, not per row
    for single, together in zip(singles * 2, batched):
        assert together.token_ids == single.token_ids
        assert together.logprobs == pytest.approx(single.logprobs, abs=1e-4)


async def test_a_batch_invariant_request_is_bitwise_the_same_under_any_load(endless):
    """What evaluation relies on: the same tokens and logprobs, bit for bit, alone on an idle
    engine and among a busy shared batch in another arrival order — which the shared batch
    itself does not give (its batched kernels round differently)."""
    prompts = [prompt(endless, q) for q in QUESTIONS]
    invariant = SamplingParams(temperature=0, max_tokens=24, batch_invariant=True)
    shared = SamplingParams(temperature=0, max_tokens=24)
    alone = [await endless.generate(p, invariant) for p in prompts]
    endless.max_rows_seen = 0
    crowd = await asyncio.gather(
        *(endless.generate(p, shared) for p in prompts * 2),
        *(endless.generate(p, invariant) for p in reversed(prompts)),
    )
    assert endless.max_rows_seen == 2 * len(prompts)  # the invariant ones never joined the batch
    loaded = list(reversed(crowd[2 * len(prompts) :]))
    assert [(g.token_ids, g.logprobs) for g in loaded] == [(g.token_ids, g.logprobs) for g in alone]
    batched = crowd[: len(prompts)]
    assert any(b.logprobs != a.logprobs for b, a in zip(batched, alone))
    for b, a in zip(batched, alone):
        assert b.logprobs == pytest.approx(a.logprobs, abs=1e-4)


async def test_a_request_arriving_mid_decode_joins_the_running_batch(endless):
    long_prompt, late_prompt = prompt(endless, QUESTIONS[4]), prompt(endless, QUESTIONS[0])
    alone = await endless.generate(late_prompt, SamplingParams(temperature=0, max_tokens=10))
    endless.max_rows_seen = 0
    chunks = []
    late_task = None
    async for chunk in endless.generate_stream(
        long_prompt, SamplingParams(temperature=0, max_tokens=60)
    ):
        chunks.append(chunk)
        if late_task is None and sum(len(c.token_ids) for c in chunks) >= 5:
            late_task = asyncio.ensure_future(
                endless.generate(late_prompt, SamplingParams(temperature=0, max_tokens=10))
            )
    late = await late_task
    streamed = [t for c in chunks for t in c.token_ids]
    assert len(streamed) == 60 and chunks[-1].finish_reason == "length"
    assert endless.max_rows_seen == 2  # the late request joined while the first was decoding
    assert late.token_ids == alone.token_ids
    assert late.logprobs == pytest.approx(alone.logprobs, abs=1e-4)
    # The long one is unaffected too: same tokens as run on its own.
    solo = await endless.generate(long_prompt, SamplingParams(temperature=0, max_tokens=60))
    assert streamed == solo.token_ids


async def test_stream_chunks_add_up_to_the_generation(engine):
    ids = prompt(engine, QUESTIONS[3])
    whole = await engine.generate(ids, GREEDY)
    chunks = [c async for c in engine.generate_stream(ids, GREEDY)]
    assert [t for c in chunks for t in c.token_ids] == whole.token_ids
    assert [lp for c in chunks for lp in c.logprobs] == pytest.approx(whole.logprobs, abs=1e-6)
    assert chunks[-1].finish_reason == whole.finish_reason and all(
        c.finish_reason is None for c in chunks[:-1]
    )


async def test_max_tokens_stops_with_length(engine):
    gen = await engine.generate(
        prompt(engine, QUESTIONS[0]), SamplingParams(temperature=0, max_tokens=3)
    )
    assert len(gen.token_ids) == 3 and gen.finish_reason == "length"


async def test_stop_strings_end_generation_and_keep_their_tokens(engine):
    ids = prompt(engine, QUESTIONS[0])
    full = await engine.generate(ids, GREEDY)
    text = engine.tokenizer.decode(full.token_ids)
    assert "boxed" in text, text
    gen = await engine.generate(
        ids, SamplingParams(temperature=0, max_tokens=40, stop=["nothing-like-this", "boxed"])
    )
    assert gen.finish_reason == "stop" and gen.matched_stop == "boxed"
    assert gen.token_ids == full.token_ids[: len(gen.token_ids)] and len(gen.token_ids) < len(
        full.token_ids
    )
    # It ends at the first token that completes the stop string.
    assert "boxed" in engine.tokenizer.decode(gen.token_ids)
    assert "boxed" not in engine.tokenizer.decode(gen.token_ids[:-1])


async def test_stop_token_ids_end_generation(engine):
    ids = prompt(engine, QUESTIONS[0])
    full = await engine.generate(ids, GREEDY)
    assert len(full.token_ids) >= 3
    stop_id = full.token_ids[2]
    gen = await engine.generate(
        ids, SamplingParams(temperature=0, max_tokens=40, stop_token_ids=[stop_id])
    )
    assert gen.finish_reason == "stop" and gen.token_ids[-1] == stop_id
    assert gen.token_ids == full.token_ids[: full.token_ids.index(stop_id) + 1]


async def test_seeded_sampling_is_reproducible_alone_and_in_a_batch(endless):
    ids = prompt(endless, QUESTIONS[1])
    sampling = SamplingParams(temperature=1.0, max_tokens=20, seed=1234)
    first = await endless.generate(ids, sampling)
    again = await endless.generate(ids, sampling)
    crowd = await asyncio.gather(
        endless.generate(ids, sampling),
        *(
            endless.generate(prompt(endless, q), SamplingParams(temperature=1.0, max_tokens=20))
            for q in QUESTIONS
        ),
    )
    assert first.token_ids == again.token_ids == crowd[0].token_ids
    others = [
        await endless.generate(ids, SamplingParams(temperature=1.0, max_tokens=20, seed=s))
        for s in (1, 2, 3)
    ]
    assert any(o.token_ids != first.token_ids for o in others)


async def test_top_k_one_samples_the_argmax(endless):
    ids = prompt(endless, QUESTIONS[5])
    greedy = await endless.generate(ids, SamplingParams(temperature=0, max_tokens=15))
    top1 = await endless.generate(
        ids, SamplingParams(temperature=1.3, top_k=1, max_tokens=15, seed=9)
    )
    assert top1.token_ids == greedy.token_ids


def test_top_p_keeps_the_smallest_nucleus():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    kept = torch.isfinite(filter_logits(logits, -1, 0.8)).tolist()
    assert kept == [True, True, False, False]
    assert torch.isfinite(filter_logits(logits, -1, 0.81)).tolist() == [True, True, True, False]
    assert torch.isfinite(filter_logits(logits, 2, 1.0)).tolist() == [True, True, False, False]


async def test_prompt_longer_than_the_context_is_a_context_length_error(engine):
    small = TransformersEngine(engine.model, engine.tokenizer, max_model_len=32, eos_token_ids=[])
    try:
        with pytest.raises(ContextLengthExceeded, match="max_model_len is 32") as info:
            await small.generate(list(range(10, 42)), GREEDY)
        assert isinstance(info.value, EngineError) and info.value.prompt_tokens == 32
        # A prompt that fits is served, and the reply is cut where the context ends.
        gen = await small.generate(
            list(range(10, 40)), SamplingParams(temperature=0, max_tokens=10)
        )
        assert len(gen.token_ids) == 2 and gen.finish_reason == "length"
    finally:
        small.close()


async def test_bad_requests_name_the_problem(engine):
    with pytest.raises(ValueError, match="prompt_ids is empty"):
        await engine.generate([], GREEDY)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        await engine.generate([1, 10**7], GREEDY)
    with pytest.raises(ValueError, match="top_p"):
        await engine.generate([1, 2], SamplingParams(top_p=0))


async def test_weights_updated_in_place_are_served_at_the_next_request(tiny_model_dir):
    eng = TransformersEngine.from_path(str(tiny_model_dir))
    try:
        ids = prompt(eng, QUESTIONS[0])
        before = await eng.generate(ids, GREEDY)
        forced = eng.tokenizer.convert_tokens_to_ids("<tool_call>")
        with eng.paused() as model, torch.no_grad():
            # Tied embeddings: scale up one output row so that token wins every argmax.
            model.get_output_embeddings().weight[forced] *= 50
        after = await eng.generate(ids, SamplingParams(temperature=0, max_tokens=5))
        assert before.token_ids[0] != forced and after.token_ids == [forced] * 5
    finally:
        eng.close()


async def test_an_in_flight_weight_update_changes_a_running_reply_from_the_next_token(
    tiny_model_dir,
):
    """Asynchronous training: new weights arrive while a reply decodes. The request is neither
    dropped nor restarted; its tokens record the version that computed each of them: the reply
    follows the old weights up to the switch and the new ones after it."""
    eng = TransformersEngine.from_path(str(tiny_model_dir), eos_token_ids=[])
    try:
        ids = prompt(eng, QUESTIONS[0])
        # Long enough that the update lands mid-reply even when the machine is busy.
        greedy = SamplingParams(temperature=0, max_tokens=LONG)
        old_reply = (await eng.generate(ids, greedy)).token_ids
        generator = torch.Generator().manual_seed(0)
        new_weights = {
            name: tensor + 0.5 * tensor.std() * torch.randn(tensor.shape, generator=generator)
            for name, tensor in eng.model.state_dict().items()
            if name.endswith("weight") and tensor.ndim == 2
        }
        stream = eng.generate_stream(ids, greedy)
        first = await anext(stream)
        assert eng.version == 0 and set(first.token_versions) == {0}
        await asyncio.to_thread(eng.update_weights, new_weights, 1)
        chunks = [first] + [chunk async for chunk in stream]
        tokens = [t for c in chunks for t in c.token_ids]
        versions = [v for c in chunks for v in (c.token_versions or [])]
        assert len(tokens) == LONG and len(versions) == LONG  # nothing dropped or restarted
        switch = versions.index(1)
        assert 0 < switch < LONG and versions == [0] * switch + [1] * (LONG - switch)
        assert tokens[:switch] == old_reply[:switch] and tokens[switch:] != old_reply[switch:]
        # The non-streaming reply reports its versions too (all of the current one now).
        reply = await eng.generate(ids, SamplingParams(temperature=0, max_tokens=4))
        assert reply.token_versions == [1] * 4 and reply.weight_version == 1
    finally:
        eng.close()


async def test_closed_engine_refuses_requests(engine):
    eng = TransformersEngine(engine.model, engine.tokenizer)
    eng.close()
    with pytest.raises(EngineError, match="closed"):
        await eng.generate([1, 2, 3], GREEDY)
