"""Entry point of ajet-plugins-std: registrations only, no heavy imports.

Each target is a dotted path; the module behind it is imported only when a config selects it.
"""

from __future__ import annotations

from ajet_core.hookspecs import hookimpl

READERS = {
    "jsonl": ("ajet_plugins_std.readers.jsonl:JsonlTaskReader", "JSONL files, streamed"),
    "huggingface": (
        "ajet_plugins_std.readers.huggingface:HuggingFaceTaskReader",
        "local datasets files/folders",
    ),
    "env_service": (
        "ajet_plugins_std.readers.env_service:EnvServiceTaskReader",
        "an HTTP environment service",
    ),
    "generated": (
        "ajet_plugins_std.readers.generated:GeneratedTaskReader",
        "tasks an LLM generates from documents",
    ),
    "random_dummy": (
        "ajet_plugins_std.readers.random_dummy:RandomDummyTaskReader",
        "numbered placeholder tasks (the workflow makes its own environment)",
    ),
    "tracing": (
        "ajet_plugins_std.readers.tracing:TracingTaskReader",
        "agent runs recorded in AgentScope Studio's SQLite trace store",
    ),
}

JUDGERS = {
    "math_answer": (
        "ajet_plugins_std.judgers.math_answer:MathAnswerJudger",
        "\\boxed{} answer, math-verify equivalence",
    ),
    "countdown": (
        "ajet_plugins_std.judgers.countdown:CountdownJudger",
        "Countdown equation checker",
    ),
    "exact_match": (
        "ajet_plugins_std.judgers.exact_match:ExactMatchJudger",
        "normalised string equality",
    ),
    "regex": ("ajet_plugins_std.judgers.regex:RegexJudger", "a regular expression must match"),
    "llm_judge": (
        "ajet_plugins_std.judgers.llm_judge:LlmJudger",
        "rubric scored by any OpenAI-compatible LLM",
    ),
    "env_service": (
        "ajet_plugins_std.judgers.env_service:EnvServiceJudger",
        "the environment's own evaluation",
    ),
    "rubric": (
        "ajet_plugins_std.judgers.rubric:RubricJudger",
        "an LLM checks each weighted criterion of the task's rubric",
    ),
}


@hookimpl
def ajet_register_task_readers(registry):
    for name, (target, description) in READERS.items():
        registry.add(name, target, description=description)


@hookimpl
def ajet_register_judgers(registry):
    for name, (target, description) in JUDGERS.items():
        registry.add(name, target, description=description)
