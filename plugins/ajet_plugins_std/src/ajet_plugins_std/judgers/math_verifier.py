"""Mathematical equivalence checks in worker processes, each with a hard timeout.

math-verify (sympy underneath) can run for a very long time on adversarial answers, and its own
timeout uses ``signal.alarm``, which works only in a process's main thread — judgers run in
worker threads. So comparisons run in small, long-lived worker processes
(``python -m ajet_plugins_std.judgers.math_verifier``, one JSON line per request and answer):
the parent waits at most ``timeout`` seconds for an answer, then kills the worker (a new one
starts on the next comparison) and reports the comparison as timed out. Plain subprocesses, not
``multiprocessing``: nothing of the user's main script is re-imported in the workers.
"""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

STARTUP_TIMEOUT = 120.0
READY = "ready"


def _wrap(text: str) -> str:
    # math-verify finds LaTeX between $...$ or in \boxed{}; a bare 'x+1' would not parse.
    if "$" in text or "\\boxed" in text or "\\(" in text or "\\[" in text:
        return text
    return f"${text}$"


def serve() -> None:
    """The worker: read ``[reference, answer]`` lines, write ``[equal, error]`` lines."""
    import logging

    # Protocol lines go to the real stdout; anything a library prints goes to stderr.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr
    from math_verify import parse, verify  # imported once per worker, not per comparison

    # math-verify warns that its own (signal) timeout is off: the parent enforces the timeout.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    gold_cache: dict[str, Any] = {}
    protocol.write(json.dumps(READY) + "\n")
    protocol.flush()
    for line in sys.stdin:
        gold_text, answer_text = json.loads(line)
        try:
            gold = gold_cache.get(gold_text)
            if gold is None:
                gold = parse(_wrap(gold_text), parsing_timeout=None)
                if len(gold_cache) > 1024:
                    gold_cache.clear()
                gold_cache[gold_text] = gold
            answer = parse(_wrap(answer_text), parsing_timeout=None)
            if not gold:
                reply = [False, f"the reference {gold_text!r} could not be parsed as math"]
            else:
                reply = [bool(verify(gold, answer, timeout_seconds=None)), None]
        except Exception as exc:  # noqa: BLE001 - reported to the parent, the worker lives on
            reply = [False, f"{type(exc).__name__}: {exc}"]
        protocol.write(json.dumps(reply) + "\n")
        protocol.flush()


@dataclass
class Comparison:
    equal: bool
    timed_out: bool = False
    error: str | None = None


class _Worker:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ajet_plugins_std.judgers.math_verifier"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        # Wait for the interpreter to start and import math-verify before any clock runs.
        if self._read(STARTUP_TIMEOUT) != READY:
            self.kill()
            raise RuntimeError(f"the math-verify worker did not start within {STARTUP_TIMEOUT:g} s")

    def _read(self, timeout: float) -> Any:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.process.stdout.readline()
        if not line:
            raise EOFError("the worker exited")
        return json.loads(line)

    def ask(self, reference: str, answer: str, timeout: float) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps([reference, answer]) + "\n")
        self.process.stdin.flush()
        return self._read(timeout)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


class MathVerifier:
    """``compare(reference, answer)`` with at most ``workers`` comparisons at once."""

    def __init__(self, *, timeout: float, workers: int = 1) -> None:
        self.timeout = timeout
        self.workers = workers
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        for _ in range(workers):
            self._idle.put(None)  # a slot; its process starts on first use
        self._closed = False
        self._lock = threading.Lock()

    def compare(self, reference: str, answer: str) -> Comparison:
        worker = self._idle.get()
        try:
            if worker is None or not worker.alive():
                worker = _Worker()
            reply = worker.ask(reference, answer, self.timeout)
            if reply is None:
                worker.kill()
                worker = None
                return Comparison(
                    False, timed_out=True, error=f"comparison took longer than {self.timeout:g} s"
                )
            equal, error = reply
            return Comparison(bool(equal), error=error)
        except (EOFError, OSError, ValueError) as exc:
            if worker is not None:
                worker.kill()
                worker = None
            return Comparison(False, error=f"math-verify worker failed: {exc}")
        finally:
            self._idle.put(worker)

    def warm_up(self) -> None:
        """Start every worker now (the first comparisons otherwise pay the start-up)."""
        slots = [self._idle.get() for _ in range(self.workers)]
        try:
            slots = [w if w is not None and w.alive() else _Worker() for w in slots]
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
                worker.kill()


if __name__ == "__main__":
    serve()
