"""Token capture without retokenization drift (DESIGN section 6), on a real BPE tokenizer."""

from __future__ import annotations

import json

import pytest

from ajet_core.chat.render import ChatRenderer
from ajet_core.chat.testing import CHATML_TOOLS_TEMPLATE, build_chatml_tokenizer

from .gateway_fixtures import WEATHER_TOOL, CharLevelEngine, make_gateway, tokenizer, weather_reply


async def _call(gateway, key, messages, **extra):
    return await gateway.chat_completion(
        key, {"messages": messages, "tools": [WEATHER_TOOL], **extra}
    )


def _assistant(reply: dict) -> dict:
    return reply["choices"][0]["message"]


async def _two_turns(gateway, *, rewrite=lambda m: m):
    episode = gateway.open_episode("ep")
    key = gateway.issue_key(episode.session, "agent")
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    first = await _call(gateway, key, messages)
    message = rewrite(_assistant(first))
    messages = messages + [
        message,
        {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "sunny"},
    ]
    second = await _call(gateway, key, messages)
    recording = episode.close()
    return recording, messages, second


def test_template_facts_are_probed_from_the_template():
    facts = ChatRenderer(tokenizer()).facts
    assert facts.turn_close_text == "<|im_end|>\n"
    im_end = tokenizer().convert_tokens_to_ids("<|im_end|>")
    assert facts.stop_token_ids == (im_end,)
    assert facts.end_of_turn_ids[0] == im_end
    assert facts.renders_tools and facts.renders_tool_calls


async def test_second_call_extends_the_first_calls_tokens_exactly():
    recording, messages, second = await _two_turns(make_gateway())
    first, later = recording.calls
    assert recording.drift_fallbacks == 0
    assert later.parent_call_id == first.call_id
    assert later.prompt_ids[: len(first.full_ids)] == first.full_ids
    # The rest is the template's text after the sampled <|im_end|> plus the tool turn.
    renderer = ChatRenderer(tokenizer())
    assert tokenizer().decode(later.prompt_ids) == renderer.render_text(
        messages, [WEATHER_TOOL], add_generation_prompt=True
    )
    assert _assistant(second)["content"] == "It is sunny in Paris."


async def test_reserialised_tool_calls_and_new_ids_still_match_by_canonical_json():
    def rewrite(message):
        call = message["tool_calls"][0]
        arguments = json.loads(call["function"]["arguments"])
        # Another framework: new id, different spacing, content "" instead of None.
        return {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "framework-1",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": json.dumps(arguments, indent=2),
                    },
                }
            ],
        }

    recording, _, _ = await _two_turns(make_gateway(), rewrite=rewrite)
    assert recording.drift_fallbacks == 0
    assert recording.calls[1].parent_call_id == recording.calls[0].call_id


async def test_sampled_ids_are_kept_even_when_retokenizing_would_differ():
    engine = CharLevelEngine(tokenizer(), weather_reply)
    recording, messages, _ = await _two_turns(make_gateway(engine=engine))
    first, later = recording.calls
    assert recording.drift_fallbacks == 0
    assert later.prompt_ids[: len(first.full_ids)] == first.full_ids
    plain = ChatRenderer(tokenizer()).render_ids(messages, [WEATHER_TOOL])[1]
    # Same text, other tokens: exactly the drift prefix reuse exists to avoid.
    assert tokenizer().decode(plain) == tokenizer().decode(later.prompt_ids)
    assert plain != later.prompt_ids


async def test_an_edited_reply_falls_back_to_plain_rendering_and_is_counted():
    def rewrite(message):
        return dict(
            message,
            tool_calls=[
                {
                    "id": "x",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                }
            ],
        )

    gateway = make_gateway()
    recording, messages, _ = await _two_turns(gateway, rewrite=rewrite)
    assert recording.fallback_reasons == {"reply_mismatch": 1}
    assert (
        recording.calls[1].drift_reason == "reply_mismatch"
        and recording.calls[1].parent_call_id is None
    )
    assert (
        recording.calls[1].prompt_ids
        == ChatRenderer(tokenizer()).render_ids(messages, [WEATHER_TOOL])[1]
    )
    assert (
        gateway.stats.drift_fallbacks == 1 and gateway.stats.fallback_reasons["reply_mismatch"] == 1
    )


async def test_changed_tools_fall_back():
    gateway = make_gateway()
    episode = gateway.open_episode("ep")
    key = gateway.issue_key(episode.session, "agent")
    messages = [{"role": "user", "content": "Weather?"}]
    first = await _call(gateway, key, messages)
    messages = messages + [
        _assistant(first),
        {"role": "tool", "tool_call_id": "x", "content": "rain"},
    ]
    other_tool = {
        "type": "function",
        "function": {"name": "get_time", "parameters": {"type": "object"}},
    }
    await gateway.chat_completion(key, {"messages": messages, "tools": [WEATHER_TOOL, other_tool]})
    assert episode.close().fallback_reasons == {"tools_changed": 1}


async def test_a_template_that_rewrites_history_is_detected_not_trusted():
    # This template drops earlier assistant replies' text (as reasoning templates strip <think>).
    stripping = CHATML_TOOLS_TEMPLATE.replace(
        "{% elif message.role == 'assistant' %}<|im_start|>assistant\n{{ message.content or '' }}",
        "{% elif message.role == 'assistant' %}<|im_start|>assistant\n"
        "{{ (message.content or '') if loop.last else (message.content or '')[:3] }}",
    )
    gateway = make_gateway(engine=None, reply=lambda prompt: "A long answer.")
    gateway.pipeline.renderer = ChatRenderer(build_chatml_tokenizer(template=stripping))
    episode = gateway.open_episode("ep")
    key = gateway.issue_key(episode.session, "agent")
    messages = [{"role": "user", "content": "Hi"}]
    first = await gateway.chat_completion(key, {"messages": messages})
    messages += [_assistant(first), {"role": "user", "content": "More?"}]
    await gateway.chat_completion(key, {"messages": messages})
    assert episode.close().fallback_reasons == {"delta_not_suffix": 1}


async def test_a_new_branch_from_an_earlier_prompt_is_plain_and_not_a_fallback():
    gateway = make_gateway(reply=lambda prompt: "Hello.")
    episode = gateway.open_episode("ep")
    key = gateway.issue_key(episode.session, "agent")
    base = [{"role": "user", "content": "Hi"}]
    await gateway.chat_completion(key, {"messages": base})
    await gateway.chat_completion(key, {"messages": base + [{"role": "user", "content": "Again"}]})
    recording = episode.close()
    assert recording.drift_fallbacks == 0
    assert recording.calls[1].parent_call_id is None


async def test_a_length_cut_reply_is_closed_at_mask_zero_and_extended():
    gateway = make_gateway(reply=lambda prompt: "one two three four five six seven")
    episode = gateway.open_episode("ep")
    key = gateway.issue_key(episode.session, "agent")
    messages = [{"role": "user", "content": "Count"}]
    first = await gateway.chat_completion(key, {"messages": messages, "max_tokens": 3})
    assert first["choices"][0]["finish_reason"] == "length"
    messages += [_assistant(first), {"role": "user", "content": "Go on"}]
    await gateway.chat_completion(key, {"messages": messages})
    recording = episode.close()
    cut, later = recording.calls
    eot = list(ChatRenderer(tokenizer()).facts.end_of_turn_ids)
    assert cut.response_mask == [1, 1, 1] + [0] * len(eot)
    assert cut.response_ids[3:] == eot and cut.response_logprobs[3:] == [0.0] * len(eot)
    assert later.parent_call_id == cut.call_id and recording.drift_fallbacks == 0
    assert later.prompt_ids[: len(cut.full_ids)] == cut.full_ids


async def test_an_agent_continuing_another_agents_reply_reuses_its_tokens():
    gateway = make_gateway()
    episode = gateway.open_episode("ep")
    key_a = gateway.issue_key(episode.session, "a")
    key_b = gateway.issue_key(episode.session, "b")
    messages = [{"role": "user", "content": "Weather?"}]
    first = await _call(gateway, key_a, messages)
    messages += [_assistant(first), {"role": "tool", "tool_call_id": "x", "content": "rain"}]
    await _call(gateway, key_b, messages)
    # b's own new conversation (not a continuation of a's reply) is rendered plainly, no drift.
    await _call(gateway, key_b, [{"role": "user", "content": "Something else?"}])
    recording = episode.close()
    a_call, b_call, b_own = recording.calls
    assert b_call.agent == "b" and b_call.parent_call_id == a_call.call_id
    assert b_call.prompt_ids[: len(a_call.full_ids)] == a_call.full_ids
    assert b_own.parent_call_id is None and recording.drift_fallbacks == 0


@pytest.mark.parametrize(
    "template_without_tools",
    [
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    ],
)
def test_templates_without_tool_support_get_hermes_style_tools(template_without_tools):
    renderer = ChatRenderer(build_chatml_tokenizer(template=template_without_tools))
    assert not renderer.facts.renders_tools and not renderer.facts.renders_tool_calls
    messages = [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "c",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "Oslo"}},
                }
            ],
        },
    ]
    text = renderer.render_text(messages, [WEATHER_TOOL], add_generation_prompt=True)
    assert "<tools>" in text and '"get_weather"' in text
    assert (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>' in text
    )


def test_fast_rendering_and_encoding_match_the_public_tokenizer_api():
    renderer = ChatRenderer(tokenizer())
    assert renderer._fast_render is not None and renderer._backend is not None
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris? ünïcode ✓"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "c",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c", "content": "sunny"},
        {"role": "assistant", "content": "Sunny."},
        {"role": "user", "content": "Thanks"},
    ]
    for tools in (None, [WEATHER_TOOL]):
        for add in (True, False):
            expected = tokenizer().apply_chat_template(
                messages, tools=tools, add_generation_prompt=add, tokenize=False
            )
            assert renderer.render_text(messages, tools, add_generation_prompt=add) == expected
            assert renderer.encode(expected) == tokenizer().encode(
                expected, add_special_tokens=False
            )
            assert renderer.encode_prompt(expected) == renderer.encode(expected)
