"""The gateway's own event loop, on its own thread.

The gateway serves HTTP, renders prompts and talks to the engine here, never on the loop that
runs the workflows: a workflow that blocks its loop (a synchronous ``requests.post`` or
``openai.OpenAI`` call inside ``async execute``) then waits for a gateway that keeps serving,
instead of a gateway that waits for the blocked loop. Callers on any other loop (or thread) reach
it with :meth:`GatewayLoop.run`, :meth:`GatewayLoop.iterate` or :meth:`GatewayLoop.submit`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class GatewayLoop:
    """An asyncio loop on a daemon thread, started on first use."""

    def __init__(self, name: str = "ajet-gateway") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                ready = threading.Event()
                loop = asyncio.new_event_loop()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                # Daemon: a workflow's leftover request must not keep the process alive.
                self._thread = threading.Thread(target=run, name=self.name, daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def on_loop(self) -> bool:
        """Whether the caller runs on the gateway's loop right now."""
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the gateway loop; a future any thread may wait on."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the gateway loop from any loop; cancelling the caller cancels it."""
        if self.on_loop():
            return await coro
        return await asyncio.wrap_future(self.submit(coro))

    def iterate(self, stream: AsyncIterator[T]) -> AsyncIterator[T]:
        """An async iterator on the caller's loop over ``stream`` driven on the gateway loop."""
        if self.on_loop():
            return stream
        return self._proxy(stream)

    async def _proxy(self, stream: AsyncIterator[T]) -> AsyncIterator[T]:
        try:
            while True:
                try:
                    item = await self.run(_next(stream))
                except StopAsyncIteration:
                    return
                yield item
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await self.run(close())

    def stop(self) -> None:
        """Stop the loop and its thread (a later use starts a fresh one)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
            loop.close()


async def _next(stream: AsyncIterator[T]) -> T:
    return await stream.__anext__()
