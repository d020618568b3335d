"""Mathematical equivalence checks in worker processes, each with a hard timeout.

math-verify (sympy underneath) can run for a very long time on adversarial answers, and its own
timeout uses ``signal.alarm``, which works only in a process's main thread — judgers run in
worker threads. So comparisons run in small, long-lived worker processes: the parent waits at
most ``timeout`` seconds for an answer, then kills the worker (a new one starts on the next
comparison) and reports the comparison as timed out.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

STARTUP_TIMEOUT = 120.0


def _wrap(text: str) -> str:
    # math-verify finds LaTeX between $...$ or in \boxed{}; a bare 'x+1' would not parse.
    if "$" in text or "\\boxed" in text or "\\(" in text or "\\[" in text:
        return text
    return f"${text}$"


def _worker(connection: Connection) -> None:
    import logging

    from math_verify import parse, verify  # imported once per worker, not per comparison

    # math-verify warns that its own (signal) timeout is off: the parent enforces the timeout.
    logging.getLogger("math_verify").setLevel(logging.ERROR)

    connection.send("ready")
    gold_cache: dict[str, Any] = {}
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        if request is None:
            return
        gold_text, answer_text = request
        try:
            gold = gold_cache.get(gold_text)
            if gold is None:
                gold = parse(_wrap(gold_text), parsing_timeout=None)
                if len(gold_cache) > 1024:
                    gold_cache.clear()
                gold_cache[gold_text] = gold
            answer = parse(_wrap(answer_text), parsing_timeout=None)
            if not gold:
                connection.send((False, f"the reference {gold_text!r} could not be parsed as math"))
            else:
                connection.send((bool(verify(gold, answer, timeout_seconds=None)), None))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, the worker lives on
            connection.send((False, f"{type(exc).__name__}: {exc}"))


@dataclass
class Comparison:
    equal: bool
    timed_out: bool = False
    error: str | None = None


class _Worker:
    def __init__(self, context: Any) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker, args=(child,), daemon=True, name="ajet-math-verify")
        self.process.start()
        child.close()
        # Wait for the interpreter to start and import math-verify before any clock runs.
        if not self.connection.poll(STARTUP_TIMEOUT) or self.connection.recv() != "ready":
            self.kill()
            raise RuntimeError(f"the math-verify worker did not start within {STARTUP_TIMEOUT:g} s")

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self.connection.close()


class MathVerifier:
    """``compare(reference, answer)`` with at most ``workers`` comparisons at once."""

    def __init__(self, *, timeout: float, workers: int = 1) -> None:
        self.timeout = timeout
        self.workers = workers
        self._context = mp.get_context("spawn")  # no fork of a threaded parent
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        for _ in range(workers):
            self._idle.put(None)  # a slot; its process starts on first use
        self._closed = False
        self._lock = threading.Lock()

    def compare(self, reference: str, answer: str) -> Comparison:
        worker = self._idle.get()
        try:
            if worker is None or not worker.process.is_alive():
                worker = _Worker(self._context)
            worker.connection.send((reference, answer))
            if not worker.connection.poll(self.timeout):
                worker.kill()
                worker = None
                return Comparison(False, timed_out=True, error=f"comparison took longer than {self.timeout:g} s")
            equal, error = worker.connection.recv()
            return Comparison(equal, error=error)
        except (EOFError, OSError, BrokenPipeError) as exc:
            if worker is not None:
                worker.kill()
                worker = None
            return Comparison(False, error=f"math-verify worker died: {exc}")
        finally:
            self._idle.put(worker)

    def warm_up(self) -> None:
        """Start every worker now (the first comparisons otherwise pay the start-up)."""
        slots = [self._idle.get() for _ in range(self.workers)]
        try:
            slots = [w if w is not None and w.process.is_alive() else _Worker(self._context) for w in slots]
        finally:
            for worker in slots:
                self._idle.put(worker)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                return
            if worker is not None:
                try:
                    worker.connection.send(None)
                except OSError:
                    pass
                worker.kill()
