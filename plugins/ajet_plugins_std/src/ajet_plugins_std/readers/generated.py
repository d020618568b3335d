"""``generated`` task reader: an LLM writes tasks from your documents.

    task_reader:
      type: generated
      documents: [docs/handbook.pdf, notes/]   # files, folders, globs: .txt .md .rst .pdf
      base_url: http://127.0.0.1:8000/v1       # any OpenAI-compatible endpoint
      model: my-model
      tasks_per_chunk: 3
      validation_fraction: 0.1
      cache_dir: .cache/ajet/generated

Steps: documents are split into paragraph-aligned chunks; each chunk is sent to the model, which
answers with questions (and answers) about it; near-duplicate questions are dropped; each task
falls into the training or validation split by a hash of its content (stable when more documents
are added). Every chunk's reply is cached under a key of everything that shaped it (chunk text,
prompt, model, sampling), so a second run makes no request and an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pydantic import Field, field_validator

from ajet_core.errors import ConfigError
from ajet_core.readers import TRAIN_SPLIT, VALIDATION_SPLIT, TaskReader, TaskReaderConfig
from ajet_core.schema import Task
from ajet_plugins_std.llm import DiskCache, EndpointOptions, LlmError, cache_key, describe_failure
from ajet_plugins_std.readers.documents import Chunk, chunk_text, load_text, resolve_documents

log = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = (
    "You write exam questions about a text. Each question must be answerable from the text alone."
)
DEFAULT_PROMPT = (
    "Text:\n{chunk}\n\n"
    "Write {count} different questions about the text, each with its short answer. Reply with a "
    'JSON list only, like [{{"question": "...", "answer": "..."}}].'
)
DEFAULT_LINES_PROMPT = (
    "Text:\n{chunk}\n\nWrite {count} different questions about the text, one per line."
)


class GeneratedReaderConfig(TaskReaderConfig, EndpointOptions):
    documents: list[str] = Field(min_length=1)
    chunk_chars: int = Field(default=1500, ge=200)
    chunk_overlap: int = Field(default=150, ge=0)
    # At most this many chunks are sent (in document order); None: all.
    max_chunks: int | None = Field(default=None, gt=0)
    tasks_per_chunk: int = Field(default=3, gt=0)
    # 'json': a list of {"question", "answer"} objects; 'lines': one question per line, no answer.
    output_format: Literal["json", "lines"] = "json"
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    # Placeholders {chunk} and {count}; None: the default for output_format.
    prompt: str | None = None
    temperature: float = Field(default=0.7, ge=0.0)
    max_tokens: int = Field(default=512, gt=0)
    seed: int = 0
    concurrency: int = Field(default=4, ge=1, le=64)
    # Questions whose word sets overlap this much (Jaccard) with an earlier one are dropped;
    # 1.0 drops only questions equal after normalisation.
    dedupe_threshold: float = Field(default=0.9, gt=0.0, le=1.0)
    validation_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    split_seed: int = 0
    # Copy the source chunk into task.metadata['context'] (for judges that compare with it).
    include_context: bool = True
    cache_dir: str = ".cache/ajet/generated"

    @field_validator("prompt")
    @classmethod
    def _placeholders(cls, prompt: str | None) -> str | None:
        if prompt is not None:
            try:
                prompt.format(chunk="", count=1)
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(
                    f"prompt uses an unknown placeholder or a stray brace ({exc}); available: "
                    "{chunk}, {count}; write literal braces as {{ }}"
                ) from None
        return prompt


def normalise_question(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", "", text.casefold()).split())


def _words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\w+", text.casefold()))


def parse_reply(text: str, output_format: str) -> list[dict[str, str]]:
    """Question/answer pairs in a model's reply; raises ValueError when there are none."""
    if output_format == "lines":
        questions = []
        for line in text.splitlines():
            line = re.sub(
                r"^\s*(?:\d+[.)]|[-*•]|q\d*[:.])\s*", "", line, flags=re.IGNORECASE
            ).strip()
            if line:
                questions.append({"question": line, "answer": ""})
        if not questions:
            raise ValueError("the reply has no non-empty line")
        return questions
    start, end = text.find("["), text.rfind("]")
    if start < 0 or end <= start:
        raise ValueError("no JSON list in the reply")
    try:
        items = json.loads(text[start : end + 1])
    except ValueError as exc:
        raise ValueError(f"the JSON list does not parse: {exc}") from None
    pairs = []
    for item in items if isinstance(items, list) else []:
        if (
            isinstance(item, dict)
            and isinstance(item.get("question"), str)
            and item["question"].strip()
        ):
            answer = item.get("answer", "")
            pairs.append(
                {
                    "question": item["question"].strip(),
                    "answer": "" if answer is None else str(answer).strip(),
                }
            )
    if not pairs:
        raise ValueError('the JSON list holds no {"question": ...} object')
    return pairs


class GeneratedTaskReader(TaskReader):
    options_model = GeneratedReaderConfig
    options: GeneratedReaderConfig

    def __init__(self, config: GeneratedReaderConfig | None = None) -> None:
        if config is None:
            raise ConfigError(
                "the generated reader needs task_reader.documents, base_url and model"
            )
        super().__init__(config)
        self.cache = DiskCache(config.cache_dir)
        self._tasks: list[tuple[str, Task]] | None = None
        self._lock = threading.Lock()
        # Filled by generation: chunks sent, answered from cache, unusable replies, duplicates.
        self.stats: dict[str, int] = {}

    # -- generation ---------------------------------------------------------------------------
    def _prompt(self) -> str:
        if self.options.prompt is not None:
            return self.options.prompt
        return DEFAULT_PROMPT if self.options.output_format == "json" else DEFAULT_LINES_PROMPT

    def chunks(self) -> list[Chunk]:
        c = self.options
        chunks: list[Chunk] = []
        for path in resolve_documents(c.documents):
            chunks.extend(
                chunk_text(load_text(path), str(path), size=c.chunk_chars, overlap=c.chunk_overlap)
            )
        return chunks[: c.max_chunks] if c.max_chunks else chunks

    def _request(self, chunk: Chunk) -> dict[str, Any]:
        c = self.options
        return {
            "model": c.model,
            "messages": [
                {"role": "system", "content": c.system_prompt},
                {
                    "role": "user",
                    "content": self._prompt().format(chunk=chunk.text, count=c.tasks_per_chunk),
                },
            ],
            "temperature": c.temperature,
            "max_tokens": c.max_tokens,
            "seed": c.seed,
        }

    def _generate_chunk(
        self, client: Any, chunk: Chunk
    ) -> tuple[list[dict[str, str]], bool, str | None]:
        """(pairs, from_cache, problem) for one chunk; endpoint failures raise LlmError."""
        import openai

        request = self._request(chunk)
        key = cache_key({"request": request, "format": self.options.output_format})
        entry = self.cache.get(key)
        if isinstance(entry, dict) and "reply" in entry:
            reply, cached = entry["reply"], True
        else:
            try:
                response = client.chat.completions.create(**request)
            except openai.OpenAIError as exc:
                raise LlmError(f"generated reader: {describe_failure(self.options, exc)}") from None
            reply = (response.choices[0].message.content or "") if response.choices else ""
            self.cache.put(key, {"reply": reply, "source": chunk.source, "chunk": chunk.index})
            cached = False
        try:
            return (
                parse_reply(reply, self.options.output_format)[: self.options.tasks_per_chunk],
                cached,
                None,
            )
        except ValueError as exc:
            return [], cached, f"{chunk.source} chunk {chunk.index}: {exc} (reply: {reply[:120]!r})"

    def _generate(self) -> list[tuple[str, Task]]:
        import openai

        c = self.options
        chunks = self.chunks()
        client = openai.OpenAI(
            base_url=c.base_url, api_key=c.key(), timeout=c.timeout, max_retries=c.max_retries
        )
        try:
            with ThreadPoolExecutor(c.concurrency) as pool:
                results = list(pool.map(lambda chunk: self._generate_chunk(client, chunk), chunks))
        finally:
            client.close()
        problems = [p for _, _, p in results if p]
        for problem in problems:
            log.warning("generated reader: unusable reply: %s", problem)
        tasks: list[tuple[str, Task]] = []
        seen_exact: set[str] = set()
        seen_words: list[frozenset[str]] = []
        duplicates = 0
        for chunk, (pairs, _, _) in zip(chunks, results):
            for pair in pairs:
                exact, words = normalise_question(pair["question"]), _words(pair["question"])
                if exact in seen_exact or (
                    c.dedupe_threshold < 1.0
                    and any(
                        len(words & other) / max(1, len(words | other)) >= c.dedupe_threshold
                        for other in seen_words
                    )
                ):
                    duplicates += 1
                    continue
                seen_exact.add(exact)
                seen_words.append(words)
                task_id = hashlib.blake2b(
                    f"{pair['question']}\x00{pair['answer']}".encode(), digest_size=8
                ).hexdigest()
                metadata: dict[str, Any] = {
                    "answer": pair["answer"],
                    "source": chunk.source,
                    "chunk_index": chunk.index,
                }
                if c.include_context:
                    metadata["context"] = chunk.text
                tasks.append(
                    (
                        self._split_of(task_id),
                        Task(main_query=pair["question"], task_id=task_id, metadata=metadata),
                    )
                )
        self.stats = {
            "chunks": len(chunks),
            "cached_chunks": sum(1 for _, cached, _ in results if cached),
            "unusable_replies": len(problems),
            "duplicates": duplicates,
            "tasks": len(tasks),
        }
        log.info("generated reader: %s", self.stats)
        if not tasks:
            raise LlmError(
                f"generated reader: {c.model!r} produced no usable task from {len(chunks)} "
                f"chunk(s) ({len(problems)} unusable replies; first: "
                f"{problems[0] if problems else 'none'}); check the prompt, output_format and the "
                "model"
            )
        return tasks

    def _split_of(self, task_id: str) -> str:
        digest = hashlib.blake2b(
            f"{self.options.split_seed}|{task_id}".encode(), digest_size=8
        ).digest()
        share = int.from_bytes(digest, "big") / 2**64
        return VALIDATION_SPLIT if share < self.options.validation_fraction else TRAIN_SPLIT

    def generate(self) -> list[tuple[str, Task]]:
        """Generate (or load from the cache) every task, with its split; done once per reader."""
        with self._lock:
            if self._tasks is None:
                self._tasks = self._generate()
            return self._tasks

    # -- the reader interface -----------------------------------------------------------------
    def iter_tasks(self, split: str) -> Iterator[Task]:
        if split not in (TRAIN_SPLIT, VALIDATION_SPLIT):
            raise ConfigError(
                f"generated reader has no split {split!r}; it serves train, validation"
            )
        tasks = self.generate()
        return (task for task_split, task in tasks if task_split == split)
