"""The env_service reader, client and judger against the reference server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
import uvicorn
from ajet_plugins_std.envs.client import EnvServiceClient, EnvServiceError
from ajet_plugins_std.envs.countdown import generate_puzzle
from ajet_plugins_std.envs.frozenlake import generate_map, solve
from ajet_plugins_std.judgers.env_service import EnvServiceJudger, EnvServiceJudgerConfig
from ajet_plugins_std.judgers.fields import JudgeInputError
from ajet_plugins_std.readers.env_service import (
    ENV_INSTANCE_KEY,
    EnvServiceReaderConfig,
    EnvServiceTaskReader,
)
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from ajet_core.errors import ConfigError
from ajet_core.schema import Task
from ajet_core.testing import JudgerConformance, TaskReaderConformance
from ajet_core.workflow import WorkflowOutput

from .conftest import free_port


def make_reader(url, env_type="frozenlake", **options):
    return EnvServiceTaskReader(EnvServiceReaderConfig(url=url, env_type=env_type, **options))


def live_instances(url) -> int:
    return httpx.get(f"{url}/health").json()["instances"]


class TestEnvServiceReaderConformance(TaskReaderConformance):
    registered_name = "env_service"

    @pytest.fixture
    def reader(self, env_server):
        return make_reader(env_server)


def test_splits_map_to_the_servers_task_ids(env_server):
    reader = make_reader(env_server, validation_split="val")
    assert [t.task_id for t in reader.iter_tasks("train")] == [str(i) for i in range(12)]
    validation = list(reader.iter_tasks("validation"))
    assert len(validation) == 5 and all(t.env_type == "frozenlake" for t in validation)
    with pytest.raises(ConfigError, match="no split 'test'"):
        reader.iter_tasks("test")


def test_unknown_env_type_is_the_servers_error(env_server):
    with pytest.raises(EnvServiceError, match=r"unknown env_type 'chess'.*frozenlake, countdown"):
        list(make_reader(env_server, env_type="chess").iter_tasks("train"))


async def test_an_episode_solves_frozenlake_through_gym_env_and_is_judged_then_released(env_server):
    reader = make_reader(env_server)
    task = next(iter(reader.iter_tasks("train")))
    judger = EnvServiceJudger()
    async with reader.episode_env(task, "episode-1") as (episode_task, gym_env):
        assert live_instances(env_server) == 1
        # The workflow sees the first observation as its task.
        assert episode_task.init_messages[0]["role"] == "system"
        assert "Current map" in episode_task.main_query
        assert episode_task.metadata[ENV_INSTANCE_KEY]["instance_id"] == "episode-1"
        moves = solve(generate_map(int(task.task_id)))
        for move in moves[:-1]:
            observation, _, terminated, info = await gym_env.astep(
                {"role": "assistant", "content": f"```{move}```"}
            )
            assert not terminated and info["action_is_effective"]
        # The AgentJet-style synchronous call works too.
        observation, reward, terminated, _ = await asyncio.to_thread(
            gym_env.step, {"content": f"```{moves[-1]}```"}
        )
        assert terminated and reward == 1.0 and "√" in observation
        result = await judger.ajudge(episode_task, WorkflowOutput())
        assert (result.reward, result.is_success) == (1.0, True)
    assert live_instances(env_server) == 0


async def test_the_instance_is_released_when_the_episode_fails(env_server):
    reader = make_reader(env_server)
    task = Task(task_id="3", env_type="frozenlake")
    with pytest.raises(RuntimeError, match="workflow bug"):
        async with reader.episode_env(task, "episode-fails"):
            assert live_instances(env_server) == 1
            raise RuntimeError("workflow bug")
    assert live_instances(env_server) == 0

    async def hangs():
        async with reader.episode_env(task, "episode-times-out"):
            await asyncio.sleep(30)

    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(hangs(), timeout=0.5)
    assert live_instances(env_server) == 0


async def test_agentjet_shaping_of_the_environment_score(env_server):
    reader = make_reader(env_server, env_type="countdown")
    judger = EnvServiceJudger(EnvServiceJudgerConfig(shaping="agentjet"))
    async with reader.episode_env(Task(task_id="4", env_type="countdown"), "e-shaping") as (
        task,
        env,
    ):
        await env.astep(r"\boxed{1}")
        result = await judger.ajudge(task, WorkflowOutput())
    assert (result.reward, result.is_success, result.metrics["env_score"]) == (0.0, False, 0.0)


def test_judger_without_an_instance_is_a_clear_error():
    with pytest.raises(
        JudgeInputError,
        match=r"task 'x' has no environment instance.*task_reader.type: env_service",
    ):
        EnvServiceJudger().judge(Task(task_id="x"), WorkflowOutput())


class TestEnvServiceJudgerConformance(JudgerConformance):
    registered_name = "env_service"

    @staticmethod
    def _played(url: str, instance_id: str, answer_is_right: bool) -> tuple[Task, WorkflowOutput]:
        client = EnvServiceClient(url)
        client.create("countdown", "7", instance_id)
        puzzle = generate_puzzle(7)
        target, numbers = puzzle.target, puzzle.numbers
        # Brute force over left-to-right chains for a correct answer (the generator builds one).
        from itertools import permutations, product

        from ajet_plugins_std.envs.countdown import check_equation

        answer = "0"
        if answer_is_right:
            for order in permutations(numbers):
                for ops in product("+-*/", repeat=len(order) - 1):
                    expression = str(order[0])
                    for op, n in zip(ops, order[1:]):
                        expression = f"({expression} {op} {n})"
                    if check_equation(expression, numbers, target).correct:
                        answer = expression
                        break
                if answer != "0":
                    break
        client.step(instance_id, {"role": "assistant", "content": rf"\boxed{{{answer}}}"})
        task = Task(
            task_id="7",
            env_type="countdown",
            metadata={
                ENV_INSTANCE_KEY: {"url": url, "env_type": "countdown", "instance_id": instance_id}
            },
        )
        return task, WorkflowOutput()

    @pytest.fixture
    def judger(self):
        return EnvServiceJudger()

    @pytest.fixture
    def passing_case(self, env_server):
        return self._played(env_server, "conformance-pass", True)

    @pytest.fixture
    def failing_case(self, env_server):
        return self._played(env_server, "conformance-fail", False)


# -- failure handling against small servers we start here ---------------------------------------
class ScriptedServer:
    """A uvicorn server on 127.0.0.1 that fails its first ``failures`` calls, or sleeps."""

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.failures, self.delay, self.calls = failures, delay, 0
        self.closing = threading.Event()

        async def profile(request):
            self.calls += 1
            deadline = time.monotonic() + self.delay  # the delay ends early when we close
            while not self.closing.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            if self.calls <= self.failures:
                return JSONResponse({"error": "overloaded"}, status_code=503)
            return JSONResponse({"data": ["a", "b"]})

        self.port = free_port()
        config = uvicorn.Config(
            Starlette(routes=[Route("/get_env_profile", profile, methods=["POST"])]),
            host="127.0.0.1",
            port=self.port,
            log_level="error",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 60  # readiness, with room for a loaded machine
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.closing.set()
        self.server.should_exit = True
        self.thread.join(timeout=60)


def test_transient_server_errors_are_retried_with_backoff():
    with ScriptedServer(failures=2) as url:
        client = EnvServiceClient(url, retries=2, backoff=0.01)
        assert client.list_task_ids("x", "train") == ["a", "b"]


def test_retries_give_up_with_a_clear_error():
    with ScriptedServer(failures=5) as url:
        with pytest.raises(
            EnvServiceError, match=r"did not answer get_env_profile after 2 attempt\(s\).*503"
        ):
            EnvServiceClient(url, retries=1, backoff=0.01).list_task_ids("x", "train")


def test_a_server_that_is_down_is_named():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(
        EnvServiceError, match=r"did not answer get_env_profile.*is the server running"
    ):
        EnvServiceClient(url, retries=1, backoff=0.01).list_task_ids("x", "train")


def test_timeout_per_call():
    # The server would answer after 10 s, well inside the client's default 30 s: only the
    # 0.3 s timeout given here makes the call fail (no wall-clock bound on a shared machine).
    with ScriptedServer(delay=10.0) as url:
        with pytest.raises(EnvServiceError, match="ReadTimeout"):
            EnvServiceClient(url, timeout=0.3, retries=0).list_task_ids("x", "train")


def test_client_errors_are_passed_on_and_release_reports_unknown_ids(env_server):
    client = EnvServiceClient(env_server)
    client.create("frozenlake", "1", "no-double-steps")
    with pytest.raises(EnvServiceError, match=r"refused step \(HTTP 404\).*no instance 'missing'"):
        client.step("missing", {"role": "assistant", "content": "up"})
    assert client.release("no-double-steps") is True
    assert client.release("no-double-steps") is False


async def test_readers_without_an_environment_yield_the_task_unchanged(tmp_path):
    # The core default of TaskReader.episode_env, which the rollout runner enters for every reader.
    from ajet_plugins_std.readers.jsonl import JsonlReaderConfig, JsonlTaskReader

    path = tmp_path / "t.jsonl"
    path.write_text('{"main_query": "hi"}\n', encoding="utf-8")
    reader = JsonlTaskReader(JsonlReaderConfig(train_path=str(path)))
    (task,) = reader.iter_tasks("train")
    async with reader.episode_env(task, "e1") as (episode_task, gym_env):
        assert episode_task is task and gym_env is None
