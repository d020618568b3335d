"""``tracing`` task reader: tasks from the agent runs AgentScope Studio recorded.

    task_reader:
      type: tracing
      path: ~/AgentScope-Studio/database.sqlite   # Studio's SQLite trace store (opened read-only)
      agent_names: [Friday]                        # only these agents' runs (default: all)
      dedupe: normalised                           # or exact / none
      validation_fraction: 0.1
      llm_filter:                                  # optional: an LLM keeps the good tasks
        base_url: http://127.0.0.1:8000/v1
        model: judge
        criteria: The query is a clear request and the answer really answers it.

Each traced agent run gives one task: its user message is ``main_query``; the agent's reply and
where the run was recorded (agent, conversation, trace, time, model) are the metadata. Runs that
an agent started for another agent, failed runs and runs without a user message are left out and
counted. Repeated queries are kept once (the first run), with the number of runs that asked them.
The optional LLM filter asks a model, one request per task, whether the task meets ``criteria``.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from ajet_core.errors import ConfigError, DataError
from ajet_core.readers import TRAIN_SPLIT, VALIDATION_SPLIT, TaskReader, TaskReaderConfig
from ajet_core.schema import Task
from ajet_plugins_std.llm import DiskCache, EndpointOptions, LlmError, cache_key, describe_failure
from ajet_plugins_std.readers.generated import normalise_question
from ajet_plugins_std.readers.studio_traces import (
    STUDIO_HINT,
    TracedRun,
    agent_runs,
    count_spans,
    detect_layout,
    open_read_only,
)
from ajet_plugins_std.verdicts import parse_verdict

log = logging.getLogger(__name__)

DEFAULT_CRITERIA = (
    "The query is a clear, self-contained request, and the answer actually addresses it (it is "
    "not empty, not only an acknowledgement, not an excuse, and not off-topic)."
)
DEFAULT_SYSTEM_PROMPT = "You review training data. Reply YES or NO."
DEFAULT_PROMPT = (
    "Query: {query}\nAnswer: {answer}\nCriteria: {criteria}\n"
    "Does this query-answer pair meet the criteria? Answer Yes or No."
)


class TraceFilterConfig(EndpointOptions):
    """An LLM judge at an OpenAI-compatible endpoint that keeps tasks meeting ``criteria``."""

    model_config = ConfigDict(extra="forbid")

    criteria: str = DEFAULT_CRITERIA
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    # Placeholders {query}, {answer}, {criteria}.
    prompt: str = DEFAULT_PROMPT
    temperature: float = Field(default=0.0, ge=0.0)
    max_tokens: int = Field(default=16, gt=0)
    # Extra requests when a reply holds no YES/NO verdict.
    parse_retries: int = Field(default=1, ge=0)
    # A task whose replies never hold a verdict: stop with an error, or keep / drop it (counted).
    on_no_verdict: Literal["error", "keep", "drop"] = "error"
    concurrency: int = Field(default=4, ge=1, le=64)
    # Verdicts are stored here, keyed by the request, so a second read asks nothing again.
    cache_dir: str | None = None

    @field_validator("prompt")
    @classmethod
    def _placeholders(cls, prompt: str) -> str:
        try:
            prompt.format(query="", answer="", criteria="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"prompt uses an unknown placeholder or a stray brace ({exc}); available: "
                "{query}, {answer}, {criteria}; write literal braces as {{ }}"
            ) from None
        return prompt


class TracingReaderConfig(TaskReaderConfig):
    path: str = Field(min_length=1)
    # Only runs of these agents (their names as the trace records them); None: every agent.
    agent_names: list[str] | None = Field(default=None, min_length=1)
    # Message roles whose text makes the query (AgentJet: the user's message).
    query_roles: list[str] = Field(default_factory=lambda: ["user"], min_length=1)
    # Also runs an agent started for another agent, and runs that ended in an error.
    include_nested: bool = False
    include_failed: bool = False
    # 'normalised': queries equal after case folding, Unicode NFKC, dropping punctuation and
    # collapsing whitespace are one task; 'exact': only identical text; 'none': every run.
    dedupe: Literal["normalised", "exact", "none"] = "normalised"
    validation_fraction: float = Field(default=0.0, ge=0.0, lt=1.0)
    split_seed: int = 0
    env_type: str = ""
    llm_filter: TraceFilterConfig | None = None

    def required_files(self) -> list[tuple[str, str]]:
        return [("path", str(Path(self.path).expanduser()))]


def dedupe_key(query: str, mode: str) -> str:
    if mode == "exact":
        return query
    return normalise_question(unicodedata.normalize("NFKC", query))


class TracingTaskReader(TaskReader):
    options_model = TracingReaderConfig
    options: TracingReaderConfig

    def __init__(self, config: TracingReaderConfig | None = None) -> None:
        if config is None:
            raise ConfigError(
                "the tracing reader needs task_reader.path: AgentScope Studio's trace store "
                "(~/AgentScope-Studio/database.sqlite)"
            )
        super().__init__(config)
        self.path = Path(config.path).expanduser()
        self._tasks: list[tuple[str, Task]] | None = None
        self.layout: str | None = None  # 'studio' or 'legacy', known after the first read
        # Filled by the first read: spans, agent runs, what was left out and why, tasks.
        self.stats: dict[str, int] = {}

    # -- reading the store ----------------------------------------------------------------------
    def runs(self) -> list[TracedRun]:
        """The agent runs that give tasks, in recording order, before deduplication."""
        c = self.options
        roles = frozenset(c.query_roles)
        db = open_read_only(self.path)
        try:
            layout = detect_layout(db, self.path)
            stats = {"spans": count_spans(db), "agent_spans": 0, "no_query": 0, "nested": 0}
            stats.update({"failed": 0, "other_agents": 0})
            problems: list[str] = []
            runs = []
            for run, problem in agent_runs(db, layout, roles):
                stats["agent_spans"] += 1
                if run is None:
                    stats["no_query"] += 1
                    problems.append(problem)
                elif run.nested and not c.include_nested:
                    stats["nested"] += 1
                elif run.failed and not c.include_failed:
                    stats["failed"] += 1
                elif c.agent_names is not None and run.agent not in c.agent_names:
                    stats["other_agents"] += 1
                else:
                    runs.append(run)
        finally:
            db.close()
        self.layout = layout
        self.stats = {**stats, "runs": len(runs)}
        if not runs:
            raise DataError(
                f"tracing reader: {str(self.path)!r} ({layout} layout) holds {stats['spans']} "
                f"spans and {stats['agent_spans']} agent spans but no agent run to make a task "
                f"from (left out: {stats['no_query']} without a {sorted(roles)} message"
                f"{' (' + problems[0] + ')' if problems else ''}, {stats['nested']} nested, "
                f"{stats['failed']} failed, {stats['other_agents']} of agents not in "
                f"agent_names={c.agent_names}); check agent_names / query_roles / "
                f"include_nested / include_failed, or record some runs first ({STUDIO_HINT})"
            )
        return runs

    def _to_tasks(self, runs: list[TracedRun]) -> list[Task]:
        c = self.options
        groups: dict[str, list[TracedRun]] = {}
        for run in runs:
            key = run.span_id if c.dedupe == "none" else dedupe_key(run.query, c.dedupe)
            groups.setdefault(key, []).append(run)
        self.stats["duplicates"] = len(runs) - len(groups)
        tasks = []
        for key, group in groups.items():
            first = group[0]
            metadata: dict[str, Any] = {
                "answer": first.answer,
                "agent": first.agent,
                "conversation_id": first.conversation_id,
                "trace_id": first.trace_id,
                "span_id": first.span_id,
                "started_at": first.started_at,
                "model": first.model,
                "occurrences": len(group),
                "source": str(self.path),
            }
            task_id = hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()
            tasks.append(
                Task(
                    main_query=first.query,
                    task_id=task_id,
                    env_type=c.env_type,
                    metadata={k: v for k, v in metadata.items() if v is not None},
                )
            )
        return tasks

    # -- the LLM filter -------------------------------------------------------------------------
    def _verdict(self, client: Any, cache: DiskCache | None, task: Task) -> bool | None:
        """Whether the filter model accepts ``task``; None when no reply held a verdict."""
        f = self.options.llm_filter
        assert f is not None
        fields = {
            "query": task.main_query,
            "answer": task.metadata.get("answer", ""),
            "criteria": f.criteria,
        }
        request = {
            "model": f.model,
            "messages": [
                {"role": "system", "content": f.system_prompt.format(**fields)},
                {"role": "user", "content": f.prompt.format(**fields)},
            ],
            "temperature": f.temperature,
            "max_tokens": f.max_tokens,
        }
        key = cache_key(request)
        entry = cache.get(key) if cache is not None else None
        if isinstance(entry, dict) and entry.get("verdict") in (True, False, None):
            verdict, replies = entry["verdict"], [str(entry.get("reply", ""))]
        else:
            verdict, replies = self._ask(client, request)
            if cache is not None:  # a reply without a verdict too: the same request repeats it
                cache.put(key, {"verdict": verdict, "reply": replies[-1], "task_id": task.task_id})
        if verdict is None and f.on_no_verdict == "error":
            raise LlmError(
                f"tracing reader llm_filter: no YES/NO verdict in {len(replies)} repl(ies) of "
                f"{f.model!r} for task {task.task_id!r} (last: {replies[-1][:200]!r}); use a "
                "model that follows the prompt, change llm_filter.prompt, or set "
                "llm_filter.on_no_verdict to keep or drop"
            )
        return verdict

    def _ask(self, client: Any, request: dict[str, Any]) -> tuple[bool | None, list[str]]:
        import openai

        f = self.options.llm_filter
        assert f is not None
        replies: list[str] = []
        for _ in range(f.parse_retries + 1):
            try:
                response = client.chat.completions.create(**request)
            except openai.OpenAIError as exc:
                raise LlmError(f"tracing reader llm_filter: {describe_failure(f, exc)}") from None
            replies.append((response.choices[0].message.content or "") if response.choices else "")
            verdict = parse_verdict(replies[-1])
            if verdict is not None:
                return verdict, replies
        return None, replies

    def _filter(self, tasks: list[Task]) -> list[Task]:
        import openai

        f = self.options.llm_filter
        assert f is not None
        cache = DiskCache(f.cache_dir) if f.cache_dir else None
        client = openai.OpenAI(
            base_url=f.base_url, api_key=f.key(), timeout=f.timeout, max_retries=f.max_retries
        )
        try:
            with ThreadPoolExecutor(f.concurrency) as pool:
                verdicts = list(pool.map(lambda t: self._verdict(client, cache, t), tasks))
        finally:
            client.close()
        no_verdict = sum(1 for v in verdicts if v is None)
        kept = [
            t
            for t, v in zip(tasks, verdicts)
            if v is True or (v is None and f.on_no_verdict == "keep")
        ]
        self.stats.update(
            {"filter_rejected": sum(1 for v in verdicts if v is False), "no_verdict": no_verdict}
        )
        if not kept:
            raise DataError(
                f"tracing reader: the llm_filter ({f.model!r} at {f.base_url}) kept none of the "
                f"{len(tasks)} tasks from {str(self.path)!r} ({self.stats['filter_rejected']} "
                f"rejected, {no_verdict} without a verdict); loosen llm_filter.criteria or "
                "remove llm_filter"
            )
        return kept

    # -- splits ---------------------------------------------------------------------------------
    def _split_of(self, task_id: str) -> str:
        digest = hashlib.blake2b(f"{self.options.split_seed}:{task_id}".encode(), digest_size=8)
        share = int.from_bytes(digest.digest(), "big") / 2**64
        return VALIDATION_SPLIT if share < self.options.validation_fraction else TRAIN_SPLIT

    def tasks(self) -> list[tuple[str, Task]]:
        """Every task with its split; the store is read (and the filter asked) once."""
        if self._tasks is None:
            tasks = self._to_tasks(self.runs())
            if self.options.llm_filter is not None:
                tasks = self._filter(tasks)
            self.stats["tasks"] = len(tasks)
            log.info("tracing reader: %s", self.stats)
            self._tasks = [(self._split_of(t.task_id), t) for t in tasks]
        return self._tasks

    def iter_tasks(self, split: str) -> Iterator[Task]:
        if split not in (TRAIN_SPLIT, VALIDATION_SPLIT):
            raise ConfigError(f"tracing reader has no split {split!r}; it serves train, validation")
        return (task for task_split, task in self.tasks() if task_split == split)
