"""A stand-in for AgentScope Studio's trace ingestion: an OTLP/HTTP endpoint that stores the spans
AgentScope exports into a SQLite file laid out as Studio stores them.

Why a stand-in: Studio is a Node.js application (TypeORM over better-sqlite3) that is not on the
npm registry this machine reaches, and its native SQLite module cannot be built offline. The
spans themselves are AgentScope's own (its OTLP exporter, unchanged); only the last hop, from
the wire into the ``span_table`` rows, is ours. It follows Studio's server (packages/server:
``otel/processor.ts`` decodes a span, ``models/Trace.ts`` is the table): attribute values that
are JSON text are parsed, dotted keys become nested objects, and the indexed columns
(``operationName``, ``conversationId``, ``model``, token counts ...) are copied out of them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Studio's SpanTable entity as TypeORM creates it in SQLite (column names and affinities).
SPAN_TABLE_DDL = """
CREATE TABLE IF NOT EXISTS "span_table" (
    "id" varchar PRIMARY KEY NOT NULL,
    "traceId" varchar NOT NULL,
    "spanId" varchar NOT NULL,
    "traceState" varchar,
    "parentSpanId" varchar,
    "flags" integer,
    "name" varchar NOT NULL,
    "kind" integer NOT NULL,
    "startTimeUnixNano" varchar NOT NULL,
    "endTimeUnixNano" varchar NOT NULL,
    "attributes" json NOT NULL,
    "droppedAttributesCount" integer,
    "events" json,
    "droppedEventsCount" integer,
    "links" json,
    "droppedLinksCount" integer,
    "status" json NOT NULL,
    "resource" json NOT NULL,
    "scope" json NOT NULL,
    "statusCode" integer,
    "serviceName" varchar,
    "operationName" varchar,
    "instrumentationName" varchar,
    "instrumentationVersion" varchar,
    "model" varchar,
    "inputTokens" integer,
    "outputTokens" integer,
    "totalTokens" integer,
    "conversationId" varchar,
    "latencyNs" float NOT NULL
)
"""
SPAN_COLUMNS = (
    "id traceId spanId traceState parentSpanId flags name kind startTimeUnixNano "
    "endTimeUnixNano attributes droppedAttributesCount events droppedEventsCount links "
    "droppedLinksCount status resource scope statusCode serviceName operationName "
    "instrumentationName instrumentationVersion model inputTokens outputTokens totalTokens "
    "conversationId latencyNs"
).split()


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as a plain Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def decode_attributes(key_values: Any) -> dict[str, Any]:
    """Studio's attribute decoding: JSON text parsed, ``a.b.c`` keys nested."""
    nested: dict[str, Any] = {}
    for kv in key_values:
        value = any_value(kv.value)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        node = nested
        *parents, last = kv.key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[last] = value
    return nested


def nested_get(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def span_row(span: Any, resource: dict[str, Any], scope: dict[str, Any]) -> dict[str, Any]:
    attributes = decode_attributes(span.attributes)
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    input_tokens = nested_get(attributes, "gen_ai.usage.input_tokens")
    output_tokens = nested_get(attributes, "gen_ai.usage.output_tokens")
    tokens = [t for t in (input_tokens, output_tokens) if isinstance(t, int)]
    conversation = nested_get(attributes, "gen_ai.conversation.id")
    return {
        "id": span.span_id.hex(),
        "traceId": span.trace_id.hex(),
        "spanId": span.span_id.hex(),
        "traceState": span.trace_state or None,
        "parentSpanId": span.parent_span_id.hex() or None,
        "flags": span.flags,
        "name": span.name,
        "kind": span.kind,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(end),
        "attributes": json.dumps(attributes),
        "droppedAttributesCount": span.dropped_attributes_count,
        "events": json.dumps(
            [
                {
                    "name": e.name,
                    "time": str(e.time_unix_nano),
                    "attributes": decode_attributes(e.attributes),
                }
                for e in span.events
            ]
        ),
        "droppedEventsCount": span.dropped_events_count,
        "links": json.dumps([]),
        "droppedLinksCount": span.dropped_links_count,
        "status": json.dumps({"code": span.status.code, "message": span.status.message}),
        "resource": json.dumps(resource),
        "scope": json.dumps(scope),
        "statusCode": span.status.code,
        "serviceName": nested_get(resource["attributes"], "service.name"),
        "operationName": nested_get(attributes, "gen_ai.operation.name"),
        "instrumentationName": scope["name"],
        "instrumentationVersion": scope["version"],
        "model": nested_get(attributes, "gen_ai.request.model"),
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "totalTokens": sum(tokens) if tokens else None,
        "conversationId": str(conversation) if conversation is not None else "unknown",
        "latencyNs": float(end - start),
    }


class StudioCollector:
    """``with StudioCollector(db_path) as collector:`` -- ``collector.traces_url`` is the OTLP
    endpoint to give ``agentscope.init(tracing_url=...)``; ``spans`` counts what was stored."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.spans = 0
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 -- http.server's spelling
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                collector.store(body)
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                    ExportTraceServiceResponse,
                )

                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.traces_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def store(self, body: bytes) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        request = ExportTraceServiceRequest.FromString(body)
        rows = []
        for resource_spans in request.resource_spans:
            resource = {"attributes": decode_attributes(resource_spans.resource.attributes)}
            for scope_spans in resource_spans.scope_spans:
                scope = {
                    "name": scope_spans.scope.name,
                    "version": scope_spans.scope.version,
                    "attributes": decode_attributes(scope_spans.scope.attributes),
                }
                rows += [span_row(span, resource, scope) for span in scope_spans.spans]
        placeholders = ", ".join("?" for _ in SPAN_COLUMNS)
        columns = ", ".join(f'"{c}"' for c in SPAN_COLUMNS)
        with self._lock, sqlite3.connect(self.db_path) as db:
            db.executemany(
                f'INSERT OR REPLACE INTO "span_table" ({columns}) VALUES ({placeholders})',
                [tuple(row[c] for c in SPAN_COLUMNS) for row in rows],
            )
            self.spans += len(rows)

    def __enter__(self) -> StudioCollector:
        with sqlite3.connect(self.db_path) as db:
            db.execute(SPAN_TABLE_DDL)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
