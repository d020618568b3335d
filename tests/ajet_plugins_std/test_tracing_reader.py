"""The ``tracing`` reader on a trace database AgentScope itself recorded.

AgentScope 1.x (the trinity environment) runs ReActAgents against ``ajet serve`` of the tiny
model with tracing on; its OTLP exporter sends the spans to ``StudioCollector``, which stores them
as AgentScope Studio does (see that module for why it stands in for Studio). The reader then
reads that file read-only, dedupes the queries, and filters them with a served model.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from ajet_plugins_std.llm import LlmError
from ajet_plugins_std.readers.tracing import (
    TraceFilterConfig,
    TracingReaderConfig,
    TracingTaskReader,
)
from ajet_plugins_std.verdicts import parse_verdict

from ajet_core.config.loader import load_config
from ajet_core.config.plugin_sections import validate_plugin_sections
from ajet_core.errors import ConfigError, DataError
from ajet_core.plugins.manager import get_plugin_manager
from ajet_core.testing import TaskReaderConformance
from ajet_core.training.components import instantiate

from ..adapters.helpers import trinity_python_with_agentscope_1
from .studio_collector import SPAN_TABLE_DDL, StudioCollector

# Hang detectors, not speed checks: the first test to use a module fixture pays for recording
# the traces (an AgentScope run) or starting SmolLM2's server, which on the test command's loaded
# two cores took past pytest-timeout's default 300 s.
pytestmark = pytest.mark.timeout(1200)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

# What the deployed agents were asked, in order. Two spellings of one question (a duplicate
# after normalisation); a planner that hands its question to a helper agent (the helper's run is
# nested); a run whose model endpoint is down (a failed run).
RUNS = [
    {"agent": "Friday", "query": "What is 2 + 2?"},
    {"agent": "Friday", "query": "Name a colour."},
    {"agent": "Friday", "query": "what is 2 + 2 ?"},
    {"agent": "Helper", "query": "Tell me about France."},
    {"agent": "Planner", "query": "Plan a trip to Rome.", "kind": "planner"},
    {"agent": "Friday", "query": "Will this one fail?", "kind": "broken"},
]


def serve_config(folder: Path, model_dir: Path) -> Path:
    path = folder / "served_model.yaml"
    path.write_text(f"model:\n  path: {model_dir}\n  max_model_len: 2048\nbackbone: debug\n")
    return path


@pytest.fixture(scope="module")
def recorded(ajet_serve, tiny_model_dir, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """(trace database, each query's reply as AgentScope printed it)."""
    python, why = trinity_python_with_agentscope_1()
    if python is None:
        pytest.skip(why)
    folder = tmp_path_factory.mktemp("traces")
    base_url = ajet_serve(serve_config(folder, tiny_model_dir), "--model-name", "policy")
    runs = folder / "runs.json"
    runs.write_text(json.dumps(RUNS))
    db = folder / "database.sqlite"
    with StudioCollector(db) as studio:
        result = subprocess.run(
            [str(python), str(HERE / "agentscope_traced_agent.py"), str(runs)]
            + ["--base-url", base_url, "--model", "policy", "--tracing-url", studio.traces_url]
            + ["--replies", str(folder / "replies.json")],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            env={**os.environ, "AJET_TEST_ENV": "trinity"},
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    replies = json.loads((folder / "replies.json").read_text())
    assert studio.spans > len(RUNS), "AgentScope exported no spans"
    return db, replies


def reader(path: Path, **options) -> TracingTaskReader:
    return TracingTaskReader(TracingReaderConfig(path=str(path), **options))


def queries(r: TracingTaskReader, split: str = "train") -> list[str]:
    return [t.main_query for t in r.iter_tasks(split)]


@pytest.mark.slow
def test_tasks_are_the_user_queries_agentscope_recorded(recorded):
    db, replies = recorded
    r = reader(db)
    tasks = list(r.iter_tasks("train"))
    # Recording order; the second spelling of 2 + 2 merged into the first; the helper's nested
    # run and the failed run left out.
    assert [t.main_query for t in tasks] == [
        "What is 2 + 2?",
        "Name a colour.",
        "Tell me about France.",
        "Plan a trip to Rome.",
    ]
    assert r.layout == "studio"
    assert r.stats["agent_spans"] == 7  # six runs and the planner's helper
    assert (r.stats["nested"], r.stats["failed"], r.stats["duplicates"]) == (1, 1, 1)
    first = tasks[0].metadata
    assert first["occurrences"] == 2 and tasks[1].metadata["occurrences"] == 1
    # The agent's reply as AgentScope returned it, and where the run was recorded.
    for task in tasks:
        assert task.metadata["answer"] == replies[task.main_query]
    assert [t.metadata["agent"] for t in tasks] == ["Friday", "Friday", "Helper", "Planner"]
    assert first["model"] == "policy" and "model" not in tasks[3].metadata  # the planner calls none
    assert len({t.metadata["conversation_id"] for t in tasks}) == 1  # one agentscope.init run
    assert len({t.metadata["trace_id"] for t in tasks}) == 4
    assert first["started_at"].startswith("20") and first["source"] == str(db)
    assert len({t.task_id for t in tasks}) == 4
    # The same file read again gives the same tasks, ids included.
    assert [t.task_id for t in reader(db).iter_tasks("train")] == [t.task_id for t in tasks]


@pytest.mark.slow
def test_dedupe_modes_and_run_selection(recorded):
    db, _ = recorded
    assert queries(reader(db, dedupe="exact")).count("what is 2 + 2 ?") == 1
    assert len(queries(reader(db, dedupe="exact"))) == 5
    everything = reader(db, dedupe="none", include_nested=True, include_failed=True)
    assert sorted(queries(everything)) == sorted(
        [run["query"] for run in RUNS] + ["Sub-question: Plan a trip to Rome."]
    )
    failed = [t for t in everything.iter_tasks("train") if t.main_query == "Will this one fail?"]
    assert failed[0].metadata["answer"] == ""  # the run never answered
    assert queries(reader(db, agent_names=["Helper", "Planner"])) == [
        "Tell me about France.",
        "Plan a trip to Rome.",
    ]
    # Splits by a hash of each task: disjoint, together every task, the same on every read.
    split = reader(db, validation_fraction=0.5, split_seed=3)
    train, validation = queries(split), queries(split, "validation")
    assert sorted(train + validation) == sorted(queries(reader(db)))
    assert not set(train) & set(validation)
    assert queries(reader(db, validation_fraction=0.5, split_seed=3), "validation") == validation


@pytest.mark.slow
class TestTracingReaderConformance(TaskReaderConformance):
    registered_name = "tracing"

    @pytest.fixture
    def reader(self, recorded):
        return reader(recorded[0], dedupe="none", include_nested=True, include_failed=True)


@pytest.fixture(scope="module")
def smollm2_judge(ajet_serve, smollm2_dir, tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("trace_filter")
    return ajet_serve(serve_config(folder, smollm2_dir), "--model-name", "judge")


@pytest.mark.slow
def test_llm_filter_keeps_what_a_served_model_accepts(recorded, smollm2_judge, tmp_path):
    db, _ = recorded
    options = dict(
        base_url=smollm2_judge,
        model="judge",
        criteria="The query is a question about arithmetic.",
        # A prompt SmolLM2 answers with a verdict for most of these tasks (checked by hand).
        prompt=(
            "Query: {query}\nAnswer: {answer}\nCriteria: {criteria}\n"
            "Does the query meet the criteria? Answer Yes or No."
        ),
        on_no_verdict="drop",
        parse_retries=0,  # greedy replies repeat themselves
        concurrency=1,
    )
    r = reader(db, llm_filter=TraceFilterConfig(**options, cache_dir=str(tmp_path)))
    kept = {t.task_id for t in r.iter_tasks("train")}
    # Every deduplicated task was asked once; its reply (kept in the cache) decided.
    entries = [json.loads(p.read_text()) for p in tmp_path.rglob("*.json")]
    everything = {t.task_id: t.main_query for t in reader(db).iter_tasks("train")}
    answered = {e["task_id"]: e for e in entries}
    assert set(answered) == set(everything) and len(entries) == len(everything)
    assert kept == {task_id for task_id, e in answered.items() if e["verdict"]}
    for e in entries:
        assert parse_verdict(e["reply"]) is e["verdict"]
    # SmolLM2-135M is a weak judge, but a real one: it accepts some tasks and rejects others.
    assert kept and r.stats["filter_rejected"] >= 1
    assert r.stats["filter_rejected"] + r.stats["no_verdict"] + len(kept) == len(everything)
    # The verdicts are cached: a second read asks nothing (its endpoint is a closed port).
    offline = TraceFilterConfig(**{**options, "base_url": "http://127.0.0.1:9/v1"})
    again = reader(db, llm_filter=offline.model_copy(update={"cache_dir": str(tmp_path)}))
    assert {t.task_id for t in again.iter_tasks("train")} == kept
    with pytest.raises(LlmError, match="127.0.0.1:9.*is the server running"):
        queries(reader(db, llm_filter=offline.model_copy(update={"max_retries": 0})))


@pytest.mark.slow
def test_llm_filter_without_a_verdict_is_never_a_silent_choice(
    recorded, ajet_serve, tiny_model_dir, tmp_path
):
    db, _ = recorded
    # The tiny model never answers YES or NO.
    served = ajet_serve(serve_config(tmp_path, tiny_model_dir), "--model-name", "t")
    base = dict(base_url=served, model="t", parse_retries=0)
    with pytest.raises(LlmError, match="no YES/NO verdict .*on_no_verdict"):
        queries(reader(db, llm_filter=TraceFilterConfig(**base)))
    kept = reader(db, llm_filter=TraceFilterConfig(**base, on_no_verdict="keep"))
    assert len(queries(kept)) == 4 and kept.stats["no_verdict"] == 4
    with pytest.raises(DataError, match="kept none of the 4 tasks .*4 without a verdict"):
        queries(reader(db, llm_filter=TraceFilterConfig(**base, on_no_verdict="drop")))


def test_the_reader_is_selected_and_checked_by_config(tmp_path):
    def build(*overrides: str):
        config = load_config(None, ["task_reader.type=tracing", *overrides]).config
        return validate_plugin_sections(config, get_plugin_manager())["task_reader"]

    assert isinstance(
        instantiate(build(f"task_reader.path={tmp_path}/db.sqlite")), TracingTaskReader
    )
    with pytest.raises(ConfigError, match="agent_name"):
        build(f"task_reader.path={tmp_path}/db.sqlite", "task_reader.agent_name=[x]")
    with pytest.raises(ConfigError, match="validation_fraction"):
        build(f"task_reader.path={tmp_path}/db.sqlite", "task_reader.validation_fraction=1")
    with pytest.raises(ConfigError, match="placeholder"):
        build(
            f"task_reader.path={tmp_path}/db.sqlite",
            "task_reader.llm_filter.base_url=http://x/v1",
            "task_reader.llm_filter.model=m",
            "task_reader.llm_filter.prompt='{question}'",
        )


def test_bad_stores_get_errors_naming_the_file_and_the_way_out(tmp_path):
    missing = tmp_path / "nowhere.sqlite"
    with pytest.raises(DataError, match=f"{missing}.* does not exist.*AgentScope-Studio"):
        queries(reader(missing))
    with pytest.raises(DataError, match="is a folder"):
        queries(reader(tmp_path))
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database at all, just some text that is long enough " * 20)
    with pytest.raises(DataError, match="notes.sqlite.* is not a SQLite database"):
        queries(reader(text))
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE run_table (id TEXT)")
    with pytest.raises(DataError, match="no span_table .*its tables: run_table"):
        queries(reader(other))
    odd = tmp_path / "odd.sqlite"
    with sqlite3.connect(odd) as db:
        db.execute("CREATE TABLE span_table (spanId TEXT, payload TEXT)")
    with pytest.raises(DataError, match="schema this reader does not know.*migrates"):
        queries(reader(odd))
    # A Studio store with no agent run in it: only an LLM call was traced.
    empty = tmp_path / "empty.sqlite"
    with sqlite3.connect(empty) as db:
        db.execute(SPAN_TABLE_DDL)
        db.execute(
            'INSERT INTO span_table ("id", "traceId", "spanId", "name", "kind", '
            '"startTimeUnixNano", "endTimeUnixNano", "attributes", "status", "resource", '
            '"scope", "operationName", "latencyNs") VALUES '
            "('s1', 't1', 's1', 'chat m', 0, '1', '2', '{}', '{}', '{}', '{}', 'chat', 1.0)"
        )
    with pytest.raises(DataError, match="holds 1 spans and 0 agent spans .*record some runs"):
        queries(reader(empty))
    # The reader never writes: the file is unchanged after a read.
    before = empty.read_bytes()
    with pytest.raises(DataError):
        queries(reader(empty))
    assert empty.read_bytes() == before


@pytest.mark.slow
def test_no_matching_run_names_the_selection(recorded):
    db, _ = recorded
    with pytest.raises(DataError, match=r"7 agent spans .*5 of agents not in.*\['Nobody'\]"):
        queries(reader(db, agent_names=["Nobody"]))


@pytest.mark.slow
def test_the_older_studio_layout_agentjet_reads(recorded, tmp_path):
    """Studio before its span-table migration (AgentJet's example database): no spanId column,
    agent spans named ``ReActAgent.reply``, the messages as ``Msg(...)`` text under ``input`` and
    ``output``. The rows are built from the spans AgentScope recorded, moved into that layout."""
    db, replies = recorded
    with sqlite3.connect(db) as source:
        spans = source.execute(
            "SELECT spanId, traceId, conversationId, attributes, statusCode FROM span_table "
            "WHERE operationName = 'invoke_agent' ORDER BY CAST(startTimeUnixNano AS INTEGER)"
        ).fetchall()
    legacy = tmp_path / "legacy.sqlite"
    with sqlite3.connect(legacy) as out:
        out.execute(
            "CREATE TABLE span_table (id varchar PRIMARY KEY, name varchar, traceId varchar, "
            "parentSpanId varchar, startTime varchar, endTime varchar, latencyMs float, "
            "status varchar, statusMessage varchar, attributes text, events text, "
            "conversationId varchar)"
        )
        for span_id, trace_id, conversation, attributes, status in spans:
            function = json.loads(attributes)["agentscope"]["function"]
            old = {"input": function["input"], "output": function.get("output")}
            old["project"] = {"run_id": conversation}
            out.execute(
                "INSERT INTO span_table (id, name, traceId, status, attributes) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    span_id,
                    function["name"],
                    trace_id,
                    "ERROR" if status == 2 else "OK",
                    json.dumps(old),
                ),
            )
    r = reader(legacy)
    tasks = list(r.iter_tasks("train"))
    assert r.layout == "legacy"
    # No parent links in this layout: the planner's helper run counts as a run of its own.
    assert [t.main_query for t in tasks] == [
        "What is 2 + 2?",
        "Name a colour.",
        "Tell me about France.",
        "Plan a trip to Rome.",
        "Sub-question: Plan a trip to Rome.",
    ]
    assert r.stats["failed"] == 1 and r.stats["duplicates"] == 1
    assert tasks[0].metadata["answer"] == replies["What is 2 + 2?"]
    assert tasks[0].metadata["agent"] == "ReActAgent"  # the old span names only the class


@pytest.mark.slow
def test_an_agentjet_tracing_config_reads_the_same_store(recorded, tmp_path):
    """AgentJet's ``task_reader.type: tracing`` with its ``feedback_tracing`` section (the shape
    of its feedback-tracing tutorial) selects this reader; its hosted-model filters are named
    in the warnings, not silently dropped."""
    import yaml

    db, _ = recorded
    agentjet = {
        "ajet": {
            "task_reader": {
                "type": "tracing",
                "feedback_tracing": {
                    "base_url": str(db),
                    "train_output_path": str(tmp_path / "tasks.jsonl"),
                    "filters": [{"type": "llm_evaluate", "enabled": True, "params": {}}],
                },
            }
        }
    }
    path = tmp_path / "agentjet.yaml"
    path.write_text(yaml.safe_dump(agentjet))
    loaded = load_config(path)
    section = validate_plugin_sections(loaded.config, get_plugin_manager())["task_reader"]
    r = instantiate(section)
    assert isinstance(r, TracingTaskReader) and r.options.validation_fraction == 0.3
    assert sorted(queries(r) + queries(r, "validation")) == sorted(queries(reader(db)))
    assert any("feedback_tracing.filters is not applied" in w for w in loaded.warnings)
