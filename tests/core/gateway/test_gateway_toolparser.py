"""The built-in Hermes tool parser."""

from __future__ import annotations

import json

import pytest

from ajet_core.testing.fixtures import isolated_plugin_manager
from ajet_core.toolparsers.hermes import HermesToolParser

parse = HermesToolParser().parse


def test_plain_text_is_content():
    reply = parse("The answer is 42.")
    assert (reply.content, reply.tool_calls, reply.malformed) == ("The answer is 42.", [], False)


def test_one_call_with_text_around_it():
    reply = parse(
        'Let me look.\n<tool_call>\n{"name": "search", "arguments": {"q": "jet"}}\n</tool_call>'
    )
    assert reply.content == "Let me look." and not reply.malformed
    [call] = reply.tool_calls
    assert call.name == "search" and json.loads(call.arguments) == {"q": "jet"}


def test_several_calls_and_string_arguments():
    text = (
        '<tool_call>{"name": "a", "arguments": {}}</tool_call>\n'
        '<tool_call>{"name": "b", "arguments": "{\\"x\\": 1}"}</tool_call>'
    )
    reply = parse(text)
    assert [c.name for c in reply.tool_calls] == ["a", "b"]
    assert json.loads(reply.tool_calls[1].arguments) == {"x": 1} and reply.content == ""


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('<tool_call>{"name": "a", "arguments": {</tool_call>', "not JSON"),
        ('<tool_call>{"arguments": {}}</tool_call>', "no string 'name'"),
        ('<tool_call>["a"]</tool_call>', "no string 'name'"),
        ('<tool_call>{"name": "a", "arguments": [1]}</tool_call>', "not a JSON object"),
        ('<tool_call>{"name": "a", "arguments": "nope"}</tool_call>', "not JSON"),
        ('<tool_call>{"name": "a", "arguments": {}}', "not closed"),
    ],
)
def test_malformed_calls_return_the_whole_text(text, problem):
    reply = parse(text)
    assert reply.malformed and reply.content == text and reply.tool_calls == []
    assert problem in reply.problem


def test_registered_as_the_hermes_tool_parser():
    with isolated_plugin_manager() as plugins:
        assert plugins.load_object("tool_parser", "hermes") is HermesToolParser
