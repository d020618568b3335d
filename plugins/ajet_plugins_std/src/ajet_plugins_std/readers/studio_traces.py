"""AgentScope Studio's SQLite trace store, read-only: the agent runs it recorded.

Studio (the Node.js app AgentScope sends its OpenTelemetry spans to) keeps every span in one
table, ``span_table``, of ``~/AgentScope-Studio/database.sqlite``. Two layouts exist:

* ``studio`` -- Studio 1.0.9 and later (and any older file a current Studio has opened, since it
  migrates the table): one row per span with ``spanId``/``parentSpanId``, indexed columns such
  as ``operationName`` and ``conversationId``, and ``attributes`` as nested JSON. AgentScope
  >= 1.0.9 names agent spans ``invoke_agent <agent>`` and records the input and output messages
  under ``gen_ai.input.messages`` / ``gen_ai.output.messages`` (OpenTelemetry GenAI parts).
* ``legacy`` -- the layout of earlier Studio versions (AgentJet's example database, AgentScope
  1.0.7): no ``spanId`` column, agent spans named ``<Class>.reply``, the message as the text of
  the Python ``Msg(...)`` object under ``input.kwargs.msg`` and the reply under ``output``.

An agent run is one agent span; its query is the text of its user message(s).
"""

from __future__ import annotations

import ast
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from ajet_core.errors import DataError

Layout = Literal["studio", "legacy"]
SPAN_TABLE = "span_table"
STUDIO_COLUMNS = frozenset({"spanId", "parentSpanId", "operationName", "attributes", "name"})
LEGACY_COLUMNS = frozenset({"id", "name", "attributes"})
STATUS_ERROR = 2  # OpenTelemetry's StatusCode.ERROR
STUDIO_HINT = (
    "AgentScope Studio keeps its trace store at ~/AgentScope-Studio/database.sqlite; point "
    "task_reader.path at that file or a copy of it"
)


@dataclass(frozen=True)
class TracedRun:
    """One recorded agent run: what the user asked, what the agent answered, where it was."""

    span_id: str
    agent: str
    query: str
    answer: str
    trace_id: str | None = None
    conversation_id: str | None = None
    started_at: str | None = None  # ISO 8601, UTC
    failed: bool = False
    nested: bool = False  # called by another agent (its input came from that agent)
    model: str | None = None  # the model of the run's LLM calls, when they were traced


def open_read_only(path: Path) -> sqlite3.Connection:
    """The store opened read-only (Studio may be writing to it); errors name the file."""
    if not path.is_file():
        where = "is a folder" if path.is_dir() else "does not exist"
        raise DataError(f"tracing reader: task_reader.path {str(path)!r} {where}; {STUDIO_HINT}")
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        db.close()
        raise DataError(
            f"tracing reader: {str(path)!r} is not a SQLite database ({exc}); {STUDIO_HINT}"
        ) from None
    return db


def detect_layout(db: sqlite3.Connection, path: Path) -> Layout:
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    if SPAN_TABLE not in tables:
        raise DataError(
            f"tracing reader: {str(path)!r} has no {SPAN_TABLE} table, so it is not an "
            f"AgentScope Studio trace store (its tables: {', '.join(tables) or 'none'}); "
            f"{STUDIO_HINT}"
        )
    columns = {r[1] for r in db.execute(f"PRAGMA table_info({SPAN_TABLE})")}
    if STUDIO_COLUMNS <= columns:
        return "studio"
    if LEGACY_COLUMNS <= columns and "spanId" not in columns:
        return "legacy"
    missing = sorted((STUDIO_COLUMNS | LEGACY_COLUMNS) - columns)
    raise DataError(
        f"tracing reader: the {SPAN_TABLE} of {str(path)!r} has a schema this reader does not "
        f"know (columns {sorted(columns)}; missing {missing}). It reads Studio 1.0.9+ and the "
        "older layout AgentJet's example database has; open the file once with a current "
        "AgentScope Studio (it migrates the table to the current schema) and read it again"
    )


def parse_msg_repr(text: str) -> dict[str, Any] | None:
    """The fields of an AgentScope ``Msg(name=..., content=..., role=...)`` as printed by Python;
    None when the text is not one. Only literal values are read (nothing is evaluated)."""
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "Msg"):
        return None
    fields = {}
    for keyword in call.keywords:
        try:
            fields[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:
            continue
    return fields


def content_text(content: Any) -> str:
    """The text of an AgentScope message content: a string, or the text of its text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list):
        texts = [
            block.get("text") if "text" in block else block.get("content")
            for block in content
            if isinstance(block, dict) and block.get("type", "text") == "text"
        ]
        return "\n".join(t for t in texts if isinstance(t, str))
    return ""


def _as_messages(value: Any) -> list[dict[str, Any]]:
    """Messages in any form a span holds them: GenAI parts, Msg reprs, Msg-like objects."""
    if isinstance(value, str):
        parsed = parse_msg_repr(value)
        if parsed is None:
            try:
                value = json.loads(value)
            except ValueError:
                return []
        else:
            value = parsed
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return []
    messages = []
    for item in value:
        if isinstance(item, str):
            messages += _as_messages(item)
        elif isinstance(item, dict):
            if "parts" in item:  # OpenTelemetry GenAI message
                text = content_text(item.get("parts"))
            else:  # Msg fields
                text = content_text(item.get("content"))
            messages.append({"role": item.get("role"), "text": text})
    return messages


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _loads(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _join(messages: list[dict[str, Any]], roles: frozenset[str]) -> str:
    return "\n".join(m["text"] for m in messages if m["role"] in roles and m["text"].strip())


def _iso(unix_nano: Any) -> str | None:
    try:
        seconds = int(unix_nano) / 1e9
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()


def _input_messages(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    messages = _as_messages(_dig(attributes, "gen_ai", "input", "messages"))
    if messages:
        return messages
    # Spans without GenAI attributes (recorded before AgentScope 1.0.9): the reply's arguments.
    for function_input in (
        _dig(attributes, "agentscope", "function", "input"),
        attributes.get("input"),
    ):
        call = function_input if isinstance(function_input, dict) else {}
        kwargs = call.get("kwargs") if isinstance(call.get("kwargs"), dict) else {}
        messages = _as_messages(kwargs.get("msg")) or _as_messages((call.get("args") or [None])[0])
        if messages:
            return messages
    return []


def _output_messages(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return (
        _as_messages(_dig(attributes, "gen_ai", "output", "messages"))
        or _as_messages(_dig(attributes, "agentscope", "function", "output"))
        or _as_messages(attributes.get("output"))
    )


def _agent_name(attributes: dict[str, Any], span_name: str) -> str:
    name = _dig(attributes, "gen_ai", "agent", "name")
    if isinstance(name, str) and name:
        return name
    # "invoke_agent Friday" (current) or "ReActAgent.reply" (legacy: only the class is known).
    first, _, rest = span_name.partition(" ")
    return rest or first.removesuffix(".reply")


def agent_runs(
    db: sqlite3.Connection, layout: Layout, query_roles: frozenset[str]
) -> Iterator[tuple[TracedRun | None, str]]:
    """Every agent span in recording order, as ``(run, problem)``: a run with a query and an
    empty problem, or ``None`` and why the span holds no task."""
    if layout == "studio":
        yield from _studio_runs(db, query_roles)
    else:
        yield from _legacy_runs(db, query_roles)


def _studio_runs(
    db: sqlite3.Connection, query_roles: frozenset[str]
) -> Iterator[tuple[TracedRun | None, str]]:
    agent_span = "(operationName = 'invoke_agent' OR name LIKE '%.reply')"
    # Agent spans with an agent span among their ancestors: runs one agent asked another for.
    nested = {
        row[0]
        for row in db.execute(
            f"""
            WITH RECURSIVE up(span, ancestor) AS (
                SELECT spanId, parentSpanId FROM {SPAN_TABLE} WHERE {agent_span}
                UNION
                SELECT up.span, s.parentSpanId FROM up JOIN {SPAN_TABLE} s ON s.spanId = up.ancestor
            )
            SELECT DISTINCT up.span FROM up JOIN {SPAN_TABLE} a ON a.spanId = up.ancestor
            WHERE a.operationName = 'invoke_agent' OR a.name LIKE '%.reply'
            """
        )
    }
    # The model of each agent span's own LLM calls (its 'chat' children).
    models = dict(
        db.execute(
            f"SELECT parentSpanId, min(model) FROM {SPAN_TABLE} "
            "WHERE model IS NOT NULL AND parentSpanId IS NOT NULL GROUP BY parentSpanId"
        ).fetchall()
    )
    rows = db.execute(
        f"SELECT spanId, traceId, name, attributes, statusCode, conversationId, "
        f"startTimeUnixNano FROM {SPAN_TABLE} WHERE {agent_span} "
        "ORDER BY CAST(startTimeUnixNano AS INTEGER), spanId"
    )
    for row in rows:
        attributes = _loads(row["attributes"])
        yield _run(
            row["spanId"],
            row["name"],
            attributes,
            query_roles,
            trace_id=row["traceId"],
            conversation_id=row["conversationId"] or None,
            started_at=_iso(row["startTimeUnixNano"]),
            failed=row["statusCode"] == STATUS_ERROR,
            nested=row["spanId"] in nested,
            model=models.get(row["spanId"]),
        )


def _legacy_runs(
    db: sqlite3.Connection, query_roles: frozenset[str]
) -> Iterator[tuple[TracedRun | None, str]]:
    columns = {r[1] for r in db.execute(f"PRAGMA table_info({SPAN_TABLE})")}
    extra = [c for c in ("traceId", "conversationId", "startTime", "status") if c in columns]
    select = ", ".join(["id", "name", "attributes", *extra])
    for row in db.execute(
        f"SELECT {select} FROM {SPAN_TABLE} WHERE name LIKE '%.reply' ORDER BY rowid"
    ):
        values = dict(zip(["id", "name", "attributes", *extra], row))
        attributes = _loads(values["attributes"])
        status = str(values.get("status") or "").upper()
        yield _run(
            str(values["id"]),
            values["name"],
            attributes,
            query_roles,
            trace_id=values.get("traceId"),
            conversation_id=values.get("conversationId") or _dig(attributes, "project", "run_id"),
            started_at=values.get("startTime"),
            failed=status in ("ERROR", "2"),
        )


def _run(
    span_id: str, span_name: str, attributes: dict[str, Any], query_roles: frozenset[str], **where
) -> tuple[TracedRun | None, str]:
    inputs = _input_messages(attributes)
    if not inputs:
        return None, "no input message"
    query = _join(inputs, query_roles)
    if not query:
        roles = sorted({str(m["role"]) for m in inputs})
        return None, f"no message from {sorted(query_roles)} (roles: {roles})"
    answer = _join(_output_messages(attributes), frozenset({"assistant"}))
    run = TracedRun(
        span_id=span_id,
        agent=_agent_name(attributes, span_name),
        query=query,
        answer=answer,
        **where,
    )
    return run, ""


def count_spans(db: sqlite3.Connection) -> int:
    return db.execute(f"SELECT count(*) FROM {SPAN_TABLE}").fetchone()[0]
