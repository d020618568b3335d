"""Where a workflow runs: in the runner's own event loop, or in a worker process of its own.

``rollout.isolation`` chooses (see docs/architecture.md, "Rollout and training"):

* ``inprocess`` (the default): the workflow's coroutine runs on the run's event loop, so IDE
  breakpoints in workflow code work and nothing is pickled. The runner still contains what Python
  lets it contain: exceptions, ``sys.exit``, ``KeyboardInterrupt`` and ``CancelledError`` raised
  by the workflow become failed episodes, and so does ``os._exit`` called from the workflow
  (or a task or ``to_thread`` call it starts: a guard routes ``os._exit`` there, and only
  there, to the episode); an episode that ignores its cancellation at the timeout is abandoned,
  never waited for. It cannot contain a crash of the interpreter, ``os._exit`` from a thread the
  workflow started itself, or a blocking call such as ``time.sleep`` (the loop stops for every
  episode while it blocks): that needs processes.
* ``process``: each episode's workflow runs in a fresh process forked from a forkserver, in its
  own process group; the workflow reaches the gateway over loopback HTTP with its episode's keys.
  A worker that exits, blocks or ignores cancellation is killed with its whole process group at
  the episode's deadline, and threads it left behind die with it. The workflow class is resolved
  again in the worker from ``workflow.name``, so it must be importable there (a registered name,
  ``module:Class`` or ``file.py:Class``); the task's environment handle must be picklable.

Whatever happens inside, :meth:`WorkflowExecutor.execute` returns the workflow's output or raises
:class:`WorkflowAborted` with a failure reason from :mod:`ajet_core.metrics`.
"""

from __future__ import annotations

import asyncio
import contextvars
import multiprocessing
import os
import pickle
import signal
import traceback
from collections.abc import Callable
from typing import Any, Protocol

from ajet_core import metrics as m
from ajet_core.errors import ConfigError
from ajet_core.workflow import Workflow, WorkflowTask

INPROCESS = "inprocess"
PROCESS = "process"
REMOTE = "remote"


class WorkflowAborted(Exception):
    """The workflow did not return normally; ``reason`` is one of ``metrics.FAILURE_REASONS``."""

    def __init__(self, reason: str, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.details = details


class WorkflowExecutor(Protocol):
    # What the executor learned about the episode, merged into its record's metadata.
    metadata: dict[str, Any]

    async def claimed(self, workflow_task: WorkflowTask, episode: Any) -> None:
        """Wait until a worker takes the episode; its deadline counts from then. Executors that
        run the workflow themselves return at once."""
        ...

    async def execute(self, workflow_task: WorkflowTask, episode: Any) -> Any:
        """Run one episode's workflow; ``episode`` is the gateway's open-episode handle."""
        ...

    def abandon(self) -> None:
        """Called when the episode's deadline passed: stop whatever still runs."""
        ...


def _exit_message(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"workflow called sys.exit({exc.code!r}); return a WorkflowOutput instead"
    return f"workflow raised {type(exc).__name__}; return a WorkflowOutput instead"


def workflow_failure(exc: BaseException) -> WorkflowAborted:
    """The failed-episode reason for an exception that escaped a workflow."""
    if isinstance(exc, WorkflowAborted):
        return exc
    if isinstance(exc, (SystemExit, KeyboardInterrupt)):
        return WorkflowAborted(m.FAILED_WORKFLOW_EXIT, _exit_message(exc))
    if isinstance(exc, asyncio.CancelledError):
        return WorkflowAborted(
            m.FAILED_WORKFLOW_CANCELLED,
            "workflow raised asyncio.CancelledError on its own; return a WorkflowOutput",
        )
    details = "".join(traceback.format_exception(exc))
    title = getattr(exc, "title", None)  # pydantic's ValidationError names the model
    if title == "WorkflowOutput":
        fields = {str(e["loc"][0]) for e in exc.errors() if e.get("loc")}  # type: ignore[attr-defined]
        reason = m.FAILED_BAD_REWARD if fields & {"reward", "is_success"} else m.FAILED_BAD_OUTPUT
        return WorkflowAborted(reason, f"workflow built an invalid WorkflowOutput: {exc}", details)
    return WorkflowAborted(
        m.FAILED_WORKFLOW_ERROR, f"workflow raised {type(exc).__name__}: {exc}", details
    )


# True inside a workflow run by InProcessExecutor (tasks and to_thread calls it starts inherit
# it): there, os._exit would end the whole run, so the guard below fails the episode instead.
_IN_WORKFLOW: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "ajet_in_workflow", default=False
)
_REAL_OS_EXIT = os._exit


class _OsExitInWorkflow(BaseException):
    """os._exit called by a workflow in the run's process (a BaseException: a workflow's own
    ``except Exception`` must not swallow it)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _guarded_os_exit(code: int) -> None:
    if _IN_WORKFLOW.get():
        raise _OsExitInWorkflow(code)
    _REAL_OS_EXIT(code)


def _guard_os_exit() -> None:
    """Route os._exit through the guard (once per process; outside workflows it exits as ever)."""
    if os._exit is not _guarded_os_exit:
        os._exit = _guarded_os_exit  # type: ignore[assignment]


class InProcessExecutor:
    """Runs the workflow coroutine on the current event loop (breakpoints work)."""

    def __init__(self, make_workflow: Callable[[], Workflow]) -> None:
        self.make_workflow = make_workflow
        self.metadata: dict[str, Any] = {}

    async def claimed(self, workflow_task: WorkflowTask, episode: Any) -> None:
        return None

    async def execute(self, workflow_task: WorkflowTask, episode: Any) -> Any:
        _guard_os_exit()
        inside = _IN_WORKFLOW.set(True)
        try:
            workflow = self.make_workflow()
            return await workflow.execute(workflow_task, episode.tuner)
        except _OsExitInWorkflow as exc:
            raise WorkflowAborted(
                m.FAILED_WORKFLOW_EXIT,
                f"workflow called os._exit({exc.code}), which would have ended the whole run "
                "(rollout.isolation: inprocess runs workflows in the run's own process); the "
                "episode failed instead. Run such code with rollout.isolation: process, where "
                "each episode has a process of its own",
            ) from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the runner cancelled us (deadline or shutdown): let it through
            raise workflow_failure(asyncio.CancelledError()) from None
        except BaseException as exc:  # noqa: BLE001 - SystemExit/KeyboardInterrupt included:
            # left alone, asyncio re-raises those out of the event loop and the run dies.
            raise workflow_failure(exc) from None
        finally:
            _IN_WORKFLOW.reset(inside)

    def abandon(self) -> None:
        pass  # the runner cancels the coroutine; nothing else runs for it


# ------------------------------------------------------------------------------ process mode

_CONTEXT: Any = None


def _forkserver() -> Any:
    """One forkserver per run process: it imports the heavy client libraries once, and each
    episode's worker forks from it (a clean, single-threaded parent, unlike the run process)."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["ajet_core.rollout.isolation", "openai", "httpx"])
    return _CONTEXT


class _WorkerGateway:
    """What :class:`ajet_core.tuner.AjetTuner` needs from a gateway, inside a worker: keys come
    from the run process over the pipe, calls go to its HTTP gateway."""

    def __init__(self, conn: Any, base_url: str, model_name: str) -> None:
        self._conn = conn
        self.base_url = base_url
        self.model_name = model_name

    def ensure_http(self) -> str:
        return self.base_url

    def issue_key(
        self, session: Any, agent_name: str, target_tag: str | None, debug_model: str | None
    ) -> str:
        self._conn.send(("key", agent_name, target_tag, debug_model))
        kind, value = self._conn.recv()
        if kind != "key":
            raise RuntimeError(value)
        return value


async def _worker_episode(conn: Any, payload: dict[str, Any]) -> Any:
    from ajet_core.gateway.episode import EpisodeSession
    from ajet_core.plugins.manager import get_plugin_manager
    from ajet_core.rollout.workflows import resolve_workflow, workflow_factory
    from ajet_core.tuner import AjetTuner

    config = payload["config"]
    workflow = workflow_factory(config, resolve_workflow(config, get_plugin_manager()))()
    session = EpisodeSession(payload["episode_id"], payload["trainable_targets"])
    gateway = _WorkerGateway(conn, payload["base_url"], payload["model_name"])
    tuner = AjetTuner(gateway, session)  # type: ignore[arg-type]
    return await workflow.execute(payload["workflow_task"], tuner)


def worker_main(conn: Any, payload_bytes: bytes) -> None:  # pragma: no cover - in the worker
    """A worker process: run one workflow, send back ('output', value) or ('failed', ...)."""
    os.setpgrp()  # its own process group: the deadline kills whatever the workflow spawned
    try:
        output = asyncio.run(_worker_episode(conn, pickle.loads(payload_bytes)))
        message: tuple = ("output", output)
    except BaseException as exc:  # noqa: BLE001 - everything goes back as the episode's error
        failure = workflow_failure(exc)
        message = ("failed", failure.reason, str(failure), failure.details)
    try:
        conn.send(message)
    except OSError:
        pass  # the run stopped waiting (deadline passed): nobody to tell
    except Exception as exc:  # noqa: BLE001 - e.g. an output that cannot be pickled
        try:
            conn.send(
                (
                    "failed",
                    m.FAILED_BAD_OUTPUT,
                    f"workflow output could not be sent back ({type(exc).__name__}: {exc}); "
                    "return an ajet_core.WorkflowOutput with plain values",
                    None,
                )
            )
        except OSError:
            pass
    # Skip interpreter shutdown: a thread the workflow left running must not keep us alive.
    os._exit(0)


class ProcessExecutor:
    """Runs each episode's workflow in its own worker process (``rollout.isolation: process``)."""

    def __init__(self, config: Any, trainable_targets: list[str] | None) -> None:
        self.config = config
        self.trainable_targets = trainable_targets
        self._process: Any = None
        self.metadata: dict[str, Any] = {}

    async def claimed(self, workflow_task: WorkflowTask, episode: Any) -> None:
        return None

    async def execute(self, workflow_task: WorkflowTask, episode: Any) -> Any:
        gateway = episode.gateway
        base_url = gateway.ensure_http()
        try:
            payload = pickle.dumps(
                {
                    "config": self.config,
                    "episode_id": episode.episode_id,
                    "trainable_targets": self.trainable_targets,
                    "base_url": base_url,
                    "model_name": gateway.model_name,
                    "workflow_task": workflow_task,
                }
            )
        except Exception as exc:  # noqa: BLE001 - e.g. an environment handle with a socket
            raise WorkflowAborted(
                m.FAILED_ENVIRONMENT_ERROR,
                f"rollout.isolation=process cannot send this episode to a worker "
                f"({type(exc).__name__}: {exc}); use rollout.isolation=inprocess with this reader",
            ) from None
        context = _forkserver()
        parent_conn, child_conn = context.Pipe()
        process = context.Process(target=worker_main, args=(child_conn, payload), daemon=True)
        self._process = process
        await asyncio.to_thread(process.start)
        child_conn.close()
        try:
            return await self._serve(parent_conn, process, episode)
        finally:
            self.abandon()
            parent_conn.close()

    async def _serve(self, conn: Any, process: Any, episode: Any) -> Any:
        """Answer the worker's key requests until it sends its result or dies."""
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(conn.fileno(), readable.set)
        try:
            while True:
                await readable.wait()
                readable.clear()
                try:
                    while conn.poll():
                        message = conn.recv()
                        if message[0] == "key":
                            conn.send(self._issue_key(episode, *message[1:]))
                        elif message[0] == "output":
                            return message[1]
                        else:
                            _, reason, text, details = message
                            raise WorkflowAborted(reason, text, details)
                except (EOFError, OSError):
                    process.join(5)
                    raise WorkflowAborted(
                        m.FAILED_WORKER_DIED,
                        f"the workflow's worker process exited with code {process.exitcode} "
                        "before returning (os._exit, a crash, or a signal)",
                    ) from None
        finally:
            loop.remove_reader(conn.fileno())

    @staticmethod
    def _issue_key(
        episode: Any, agent_name: str, target_tag: str | None, debug_model: str | None
    ) -> tuple[str, str]:
        try:
            endpoint = episode.tuner.as_oai_baseurl_apikey(agent_name, target_tag, debug_model)
        except Exception as exc:  # noqa: BLE001 - the worker raises it in the workflow
            return ("error", f"{type(exc).__name__}: {exc}")
        return ("key", endpoint.api_key)

    def abandon(self) -> None:
        process, self._process = self._process, None
        if process is None or process.pid is None:
            return
        if process.exitcode is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                process.kill()
        process.join(5)


def executor_for(
    config: Any, make_workflow: Callable[[], Workflow], trainable_targets: list[str] | None
) -> Callable[[], WorkflowExecutor]:
    """A factory of one executor per episode, per ``rollout.isolation``."""
    if config.rollout.isolation == REMOTE:
        # The run that serves remote workers passes its own executors; any other caller (an
        # external backbone's rollout workers, ajet rollout/eval) has no queue to serve.
        raise ConfigError(
            "rollout.isolation: remote is served by 'ajet train' on the debug backbone only; "
            "use rollout.isolation: inprocess or process here"
        )
    if config.rollout.isolation == PROCESS:
        return lambda: ProcessExecutor(config, trainable_targets)
    return lambda: InProcessExecutor(make_workflow)
