"""The ChatML chat template of the tiny model, with Hermes-style tools.

Tool definitions go into the system turn inside ``<tools></tools>``; assistant tool calls are
rendered as ``<tool_call>\\n{"name": ..., "arguments": ...}\\n</tool_call>``; tool results are
``tool`` role turns. Rendering a conversation's first k messages always yields a prefix of
rendering all of them (no injected text depends on later messages), which the gateway's
prefix reuse relies on.
"""

from __future__ import annotations

DEFAULT_SYSTEM_WITH_TOOLS = "You are a helpful assistant."
TOOLS_HEADER = "\n\n# Tools\n<tools>\n"
TOOLS_FOOTER = (
    "</tools>\nTo call a tool, reply with "
    '<tool_call>\n{"name": <name>, "arguments": <json object>}\n</tool_call>'
)

# Arguments arrive either as an OpenAI-style JSON string or as a dict (HF convention).
CHAT_TEMPLATE = (
    "{% if tools %}"
    "<|im_start|>system\n"
    "{% if messages and messages[0].role == 'system' %}{{ messages[0].content }}"
    "{% else %}" + DEFAULT_SYSTEM_WITH_TOOLS + "{% endif %}"
    "{{ '" + TOOLS_HEADER.replace("\n", "\\n") + "' }}"
    "{% for tool in tools %}{{ tool | tojson }}{{ '\\n' }}{% endfor %}"
    "{{ '" + TOOLS_FOOTER.replace("\n", "\\n") + "' }}<|im_end|>\n"
    "{% elif messages and messages[0].role == 'system' %}"
    "<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n"
    "{% endif %}"
    "{% for message in messages %}"
    "{% if message.role == 'system' and loop.first %}"
    "{% elif message.role == 'assistant' %}"
    "<|im_start|>assistant\n"
    "{% if message.content %}{{ message.content }}{% endif %}"
    "{% if message.tool_calls %}"
    "{% for tool_call in message.tool_calls %}"
    "{% if tool_call.function is defined %}{% set tool_call = tool_call.function %}{% endif %}"
    "{% if message.content or not loop.first %}{{ '\\n' }}{% endif %}"
    '<tool_call>\n{"name": "{{ tool_call.name }}", "arguments": '
    "{% if tool_call.arguments is string %}{{ tool_call.arguments }}"
    "{% else %}{{ tool_call.arguments | tojson }}{% endif %}"
    "}\n</tool_call>"
    "{% endfor %}"
    "{% endif %}"
    "<|im_end|>\n"
    "{% else %}"
    "<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
