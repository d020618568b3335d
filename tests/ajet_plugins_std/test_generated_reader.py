"""The generated reader: documents (text, Markdown, PDF) -> chunks -> LLM -> de-duplicated,
cached, split tasks. The LLM here is an OpenAI-compatible endpoint on 127.0.0.1 whose replies
the test scripts (well-formed JSON lists on demand)."""

from __future__ import annotations

import json
import re

import pytest
from ajet_plugins_std.llm import LlmError
from ajet_plugins_std.readers.documents import chunk_text, load_text
from ajet_plugins_std.readers.generated import (
    GeneratedReaderConfig,
    GeneratedTaskReader,
    parse_reply,
)
from pydantic import ValidationError

from ajet_core.errors import ConfigError
from ajet_core.testing import TaskReaderConformance

from .local_servers import ChatServer, free_port

FACTS = [
    f"Fact {i}: the {name} river is {100 + i} km long."
    for i, name in enumerate(
        [
            "Alder",
            "Birch",
            "Cedar",
            "Dogwood",
            "Elm",
            "Fir",
            "Gum",
            "Hazel",
            "Ivy",
            "Juniper",
            "Kauri",
            "Larch",
        ]
    )
]


def question_writer(messages):
    """Writes one question per fact found in the chunk, plus one generic question that every chunk
    repeats (the reader must de-duplicate it)."""
    text = messages[-1]["content"]
    items = [
        {"question": f"How long is the {name} river?", "answer": f"{km} km"}
        for name, km in re.findall(r"the (\w+) river is (\d+) km", text)
    ]
    items.append({"question": "What is this text about?", "answer": "rivers"})
    return "Here you go:\n```json\n" + json.dumps(items) + "\n```"


def make_pdf(lines: list[str]) -> bytes:
    """A minimal one-page PDF with real text objects (what pypdf extracts from)."""
    content = (
        "BT /F1 11 Tf 50 750 Td " + " ".join(f"({line}) Tj 0 -16 Td" for line in lines) + " ET"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font "
        b"<< /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content.encode()),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@pytest.fixture
def documents(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# Rivers\n\n" + "\n\n".join(FACTS[:6]), encoding="utf-8")
    (folder / "b.txt").write_text("\n\n".join(FACTS[6:9]), encoding="utf-8")
    (folder / "c.pdf").write_bytes(make_pdf(FACTS[9:]))
    return folder


@pytest.fixture(scope="module")
def llm():
    with ChatServer(question_writer) as server:
        yield server


def make_reader(llm_url, documents, tmp_path, **options):
    settings = dict(
        documents=[str(documents)],
        base_url=llm_url,
        model="writer",
        chunk_chars=200,
        tasks_per_chunk=8,
        chunk_overlap=0,
        cache_dir=str(tmp_path / "cache"),
        validation_fraction=0.3,
    )
    settings.update(options)
    return GeneratedTaskReader(GeneratedReaderConfig(**settings))


class TestGeneratedConformance(TaskReaderConformance):
    registered_name = "generated"

    @pytest.fixture
    def reader(self, llm, documents, tmp_path):
        return make_reader(llm.base_url, documents, tmp_path)


def test_pdf_text_is_extracted():
    assert "Kauri river is 110 km" in load_text_from_bytes(make_pdf(FACTS[10:11]))


def load_text_from_bytes(data: bytes) -> str:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.pdf"
        path.write_bytes(data)
        return load_text(path)


def test_tasks_from_every_document_deduplicated_and_split(llm, documents, tmp_path):
    reader = make_reader(llm.base_url, documents, tmp_path)
    train, validation = list(reader.iter_tasks("train")), list(reader.iter_tasks("validation"))
    everything = train + validation
    questions = [t.main_query for t in everything]
    # One question per fact, from the Markdown, the text file and the PDF alike ...
    for name, km in re.findall(r"the (\w+) river is (\d+) km", " ".join(FACTS)):
        task = next(t for t in everything if t.main_query == f"How long is the {name} river?")
        assert task.metadata["answer"] == f"{km} km" and f"{name} river" in task.metadata["context"]
    # ... and the generic question every chunk repeats only once.
    assert questions.count("What is this text about?") == 1
    assert reader.stats["duplicates"] == reader.stats["chunks"] - 1
    assert train and validation and len(set(t.task_id for t in everything)) == len(everything)
    sources = {t.metadata["source"].rsplit(".", 1)[1] for t in everything}
    assert sources == {"md", "txt", "pdf"}


def test_the_cache_answers_a_second_run_and_changes_in_inputs_miss_it(llm, documents, tmp_path):
    first = make_reader(llm.base_url, documents, tmp_path)
    first_tasks = [t.model_dump() for t in first.iter_tasks("train")]
    sent = len(llm.requests)
    second = make_reader(llm.base_url, documents, tmp_path)
    assert [t.model_dump() for t in second.iter_tasks("train")] == first_tasks
    assert len(llm.requests) == sent and second.stats["cached_chunks"] == second.stats["chunks"]
    # A different model (or prompt, or chunk text) is a different cache key.
    make_reader(llm.base_url, documents, tmp_path, model="other-writer").generate()
    assert len(llm.requests) == sent + second.stats["chunks"]
    # Adding a document only generates its own chunks.
    (documents / "d.md").write_text("The Zelkova river is 999 km long.", encoding="utf-8")
    grown = make_reader(llm.base_url, documents, tmp_path)
    grown.generate()
    assert grown.stats["chunks"] - grown.stats["cached_chunks"] == 1


def test_split_is_stable_per_task(llm, documents, tmp_path):
    reader = make_reader(llm.base_url, documents, tmp_path, validation_fraction=0.5)
    split_of = {t.task_id: s for s, t in reader.generate()}
    (documents / "d.md").write_text("The Zelkova river is 999 km long.", encoding="utf-8")
    grown = make_reader(llm.base_url, documents, tmp_path, validation_fraction=0.5)
    assert all(split_of[t.task_id] == s for s, t in grown.generate() if t.task_id in split_of)


def test_unusable_replies_are_counted_and_no_usable_reply_is_an_error(documents, tmp_path):
    replies = iter(["not json at all"] + [json.dumps([{"question": "Q?", "answer": "A"}])] * 20)
    with ChatServer(lambda _: next(replies)) as server:
        reader = make_reader(server.base_url, documents, tmp_path, concurrency=1)
        assert [t.main_query for t in reader.iter_tasks("train")] + [
            t.main_query for t in reader.iter_tasks("validation")
        ] == ["Q?"]
        assert reader.stats["unusable_replies"] == 1
    with ChatServer(lambda _: "I cannot help with that.") as server:
        with pytest.raises(LlmError, match=r"produced no usable task.*no JSON list"):
            make_reader(server.base_url, documents, tmp_path / "other").generate()


def test_endpoint_down_is_a_clear_error(documents, tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(
        LlmError, match=r"generated reader: endpoint .* failed after 1 attempt.*server running"
    ):
        make_reader(url, documents, tmp_path, max_retries=0).generate()


def test_lines_format_and_parsing():
    assert parse_reply("1. What is A?\n- What is B?\n\nQ3: What is C?", "lines") == [
        {"question": q, "answer": ""} for q in ("What is A?", "What is B?", "What is C?")
    ]
    with pytest.raises(ValueError, match="no JSON list"):
        parse_reply("nothing", "json")


def test_chunking_is_paragraph_aligned_with_overlap():
    text = "\n\n".join(f"Paragraph {i} " + "word " * 30 for i in range(6))
    chunks = chunk_text(text, "doc", size=400, overlap=60)
    assert len(chunks) > 1 and all(len(c.text) <= 400 for c in chunks)
    assert all(c.text.split()[0] != "" for c in chunks)
    # Each later chunk starts with the end of the previous one.
    assert chunks[0].text[-20:].strip().split()[-1] in chunks[1].text[:80]


def test_bad_documents_and_prompts_are_config_errors(tmp_path, llm):
    with pytest.raises(ConfigError, match=r"matches no file"):
        make_reader(llm.base_url, tmp_path / "missing", tmp_path).generate()
    (tmp_path / "data.docx").write_text("x")
    with pytest.raises(ConfigError, match=r"cannot read .*data\.docx.*supported kinds"):
        make_reader(llm.base_url, tmp_path / "data.docx", tmp_path).generate()
    with pytest.raises(ValidationError, match=r"unknown placeholder.*\{chunk\}"):
        GeneratedReaderConfig(documents=["x"], base_url="u", model="m", prompt="{text}")
