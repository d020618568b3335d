"""The episode API over real HTTP: a gateway on the tiny model serving the API, the rollout runner
queueing episodes through the remote executor, and workers using the real thin client
(``ajet_client``) and the openai SDK from other threads — or raw HTTP where a test plays a client
that misbehaves (no heartbeats, a foreign lease, a broken body)."""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
import pytest

from ajet_client import EpisodeApiError, EpisodeClient, LeaseLost, RunFinished
from ajet_core import metrics as m
from ajet_core.config.models import AjetConfig
from ajet_core.gateway import Gateway
from ajet_core.rollout.remote.api import episode_routes
from ajet_core.rollout.remote.executor import RemoteExecutor
from ajet_core.rollout.remote.queue import EpisodeQueue
from ajet_core.rollout.remote.service import server_url
from ajet_core.rollout.runner import RolloutRunner, RolloutSettings
from ajet_core.schema import Task

pytest.importorskip("torch")

TOKEN = "run-token-for-tests"
TASK = Task(task_id="t1", main_query="What is 2 + 3?", metadata={"answer": 5})


class Run:
    """A gateway serving the episode API, and a runner whose episodes wait for workers."""

    def __init__(self, engine, *, lease_seconds=30.0, episode_timeout=120.0, targets=None):
        config = AjetConfig.model_validate({"rollout": {"max_tokens_per_call": 8}})
        self.gateway = Gateway(engine, config, mode="train")
        self.queue = EpisodeQueue(TOKEN, lease_seconds=lease_seconds)
        self.gateway.add_routes(episode_routes(self.queue))
        self.url = server_url(self.gateway.ensure_http())
        settings = RolloutSettings(
            num_repeat=1,
            max_concurrency=8,
            episode_timeout=episode_timeout,
            engine_error_retries=0,
            seed=1,
            trainable_targets=targets,
        )
        self.runner = RolloutRunner(
            gateway=self.gateway,
            make_workflow=lambda: None,  # no workflow runs here: workers run the agent
            judger=None,
            tracker=None,
            settings=settings,
            make_executor=lambda: RemoteExecutor(
                self.queue, mode="train", episode_timeout=episode_timeout
            ),
        )

    def episodes(self, *tasks: Task) -> asyncio.Task:
        return asyncio.ensure_future(self.runner.run_tasks(list(tasks), step=1))

    def client(self, worker: str = "w", token: str = TOKEN) -> EpisodeClient:
        return EpisodeClient(self.url, token, worker=worker, reconnect_seconds=5)

    def post(self, path: str, token: str | None, body: dict | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(self.url + path, json=body, headers=headers, timeout=60)

    async def close(self) -> None:
        self.queue.close()
        await self.gateway.stop_http()


def ask(base_url: str, api_key: str, model: str) -> str:
    llm = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    reply = llm.chat.completions.create(
        model=model, messages=[{"role": "user", "content": TASK.main_query}]
    )
    return reply.choices[0].message.content or ""


async def claim(client: EpisodeClient, wait: float = 30.0):
    episode = await asyncio.to_thread(client.claim, wait)
    assert episode is not None, "no episode was handed out"
    return episode


async def test_a_worker_claims_calls_the_policy_and_finishes_with_a_reward(engine):
    run = Run(engine)
    try:
        running = run.episodes(TASK)
        episode = await claim(run.client("laptop-1"))
        assert episode.task["task_id"] == "t1" and episode.task["metadata"] == {"answer": 5}
        assert episode.mode == "train" and episode.lease_seconds == 30.0
        text = await asyncio.to_thread(ask, episode.base_url, episode.api_key, episode.model)
        await asyncio.to_thread(
            episode.finish, 0.5, is_success=True, metadata={"reply": text}, log_metrics={"x": 1.0}
        )
        [record] = await running
        assert record.ok, record.error
        assert record.reward == 0.5 and record.is_success is True
        assert record.metadata["reply"] == text and record.log_metrics == {"x": 1.0}
        assert record.metadata["remote_workers"] == ["laptop-1"]
        assert record.metadata["leases_expired"] == 0
        [call] = record.calls  # recorded at token level, as for any episode
        assert call.response_ids and call.reply["content"] == text
        # A second finish of the same episode is refused, and says why.
        with pytest.raises(EpisodeApiError) as refused:
            await asyncio.to_thread(episode.finish, 1.0)
        assert refused.value.status == 409 and refused.value.code == "already_finished"
    finally:
        await run.close()


async def test_claims_need_the_run_token(engine):
    run = Run(engine)
    try:
        missing = await asyncio.to_thread(run.post, "/ajet/v1/episodes/claim", None)
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "missing_run_token"
        with pytest.raises(EpisodeApiError) as wrong:
            await asyncio.to_thread(run.client(token="guessed").claim, 0)
        assert wrong.value.status == 401 and wrong.value.code == "wrong_run_token"
        # Nothing queued: the claim waits, then says so with 204 (None).
        started = time.monotonic()
        assert await asyncio.to_thread(run.client().claim, 0.3) is None
        assert time.monotonic() - started >= 0.3
    finally:
        await run.close()


async def test_a_lease_reports_only_on_its_own_episode(engine):
    run = Run(engine)
    try:
        running = run.episodes(TASK, TASK.model_copy(update={"task_id": "t2"}))
        mine = await claim(run.client("a"))
        theirs = await claim(run.client("b"))
        foreign = mine.claim["lease"]["token"]
        for action in ("finish", "heartbeat", "abort", "keys"):
            path = f"/ajet/v1/episodes/{theirs.episode_id}/{action}"
            answer = await asyncio.to_thread(run.post, path, foreign, {})
            assert answer.status_code == 403, action
            assert answer.json()["error"]["code"] == "not_your_episode"
        unknown = await asyncio.to_thread(run.post, "/ajet/v1/episodes/nope/finish", foreign, {})
        assert unknown.status_code == 403  # the lease names its own episode
        nobody = await asyncio.to_thread(run.post, "/ajet/v1/episodes/nope/finish", "x", {})
        assert nobody.status_code == 404 and nobody.json()["error"]["code"] == "unknown_episode"
        # A body the API cannot take is refused with the field named; the lease holds.
        bad = await asyncio.to_thread(
            run.post,
            f"/ajet/v1/episodes/{mine.episode_id}/finish",
            foreign,
            {"reward": "high"},
        )
        assert bad.status_code == 422 and "reward" in bad.json()["error"]["message"]
        await asyncio.to_thread(mine.finish, 1.0)
        await asyncio.to_thread(theirs.abort, "the tool server is down")
        first, second = sorted(await running, key=lambda r: r.task.task_id)
        assert first.ok and first.reward == 1.0
        assert not second.ok
        assert second.metadata["failure_reason"] == m.FAILED_REMOTE_ABORTED
        assert "the tool server is down" in second.error
    finally:
        await run.close()


async def test_a_vanished_worker_loses_its_lease_its_calls_and_its_late_finish(engine):
    run = Run(engine, lease_seconds=2.0)
    try:
        running = run.episodes(TASK)
        # A worker that claims over raw HTTP, keeps its lease while it makes one call (however
        # slow a loaded machine makes that call), then sends nothing more: it "died".
        answer = await asyncio.to_thread(
            run.post, "/ajet/v1/episodes/claim", TOKEN, {"worker": "ghost", "wait_seconds": 30}
        )
        assert answer.status_code == 200
        ghost = answer.json()
        heartbeat = f"/ajet/v1/episodes/{ghost['episode_id']}/heartbeat"
        calling = asyncio.ensure_future(
            asyncio.to_thread(ask, ghost["base_url"], ghost["api_key"], ghost["model"])
        )
        while not calling.done():
            beat = await asyncio.to_thread(run.post, heartbeat, ghost["lease"]["token"])
            assert beat.status_code == 200, beat.text
            await asyncio.wait({calling}, timeout=0.3)
        await calling
        # The episode comes back, first in line, under the same id and a fresh key.
        again = await claim(run.client("rescuer"))
        assert again.episode_id == ghost["episode_id"] and again.api_key != ghost["api_key"]
        with pytest.raises(openai.AuthenticationError):  # the ghost's key died with its lease
            await asyncio.to_thread(ask, ghost["base_url"], ghost["api_key"], ghost["model"])
        late = await asyncio.to_thread(
            run.post,
            f"/ajet/v1/episodes/{ghost['episode_id']}/finish",
            ghost["lease"]["token"],
            {"reward": 1.0},
        )
        assert late.status_code == 409 and late.json()["error"]["code"] == "lease_expired"
        text = await asyncio.to_thread(ask, again.base_url, again.api_key, again.model)
        await asyncio.to_thread(again.finish, 0.0)
        [record] = await running
        assert record.ok and record.reward == 0.0
        assert record.metadata["remote_workers"] == ["ghost", "rescuer"]
        assert record.metadata["leases_expired"] == 1
        [call] = record.calls  # the ghost's call was discarded with its lease
        assert call.reply["content"] == text
        assert run.queue.counts()["expired"] == 1
    finally:
        await run.close()


async def test_a_worker_that_never_finishes_times_out_and_its_lease_says_so(engine):
    run = Run(engine, episode_timeout=1.5)
    try:
        running = run.episodes(TASK)
        stuck = await claim(run.client("slow"))  # heartbeats keep its lease, not its deadline
        [record] = await running
        assert not record.ok and record.metadata["failure_reason"] == m.FAILED_TIMEOUT
        with pytest.raises(LeaseLost) as lost:
            await asyncio.to_thread(stuck.finish, 1.0)
        assert lost.value.code == "deadline_passed"
    finally:
        await run.close()


async def test_further_agents_get_their_own_keys_and_only_trainable_targets_train(engine):
    run = Run(engine, targets=["solver"])
    try:
        running = run.episodes(TASK)
        episode = await claim(run.client())
        assert episode.trainable_targets == ["solver"]
        solver = await asyncio.to_thread(episode.key, "solver")
        critic = await asyncio.to_thread(episode.key, "critic")
        assert len({solver, critic, episode.api_key}) == 3
        for key in (solver, critic):
            await asyncio.to_thread(ask, episode.base_url, key, episode.model)
        await asyncio.to_thread(episode.finish, 1.0)
        [record] = await running
        trained = {call.agent: call.trainable for call in record.calls}
        assert trained == {"solver": True, "critic": False}
    finally:
        await run.close()


async def test_a_finished_run_hands_out_nothing_and_the_api_describes_itself(engine):
    run = Run(engine)
    try:
        schema = (await asyncio.to_thread(httpx.get, run.url + "/ajet/v1/openapi.json")).json()
        assert schema["info"]["version"] == "1"
        paths = set(schema["paths"])
        assert "/ajet/v1/episodes/claim" in paths
        for action in ("heartbeat", "finish", "abort", "keys"):
            assert f"/ajet/v1/episodes/{{episode_id}}/{action}" in paths
        assert "reward" in schema["components"]["schemas"]["WorkflowOutput"]["properties"]
        # A run stopped early (Ctrl-C, SIGTERM) may be resumed: claims get 503 and the client
        # keeps trying for its reconnect window; a finished run's 410 ends the worker.
        run.queue.close(finished=False)
        stopped = await asyncio.to_thread(run.post, "/ajet/v1/episodes/claim", TOKEN, {})
        assert stopped.status_code == 503 and stopped.json()["error"]["code"] == "run_stopped"
        impatient = EpisodeClient(run.url, TOKEN, reconnect_seconds=1.5)
        with pytest.raises(ConnectionError, match="stopped and may be resumed"):
            await asyncio.to_thread(impatient.claim, 1)
        run.queue.close(finished=True)
        with pytest.raises(RunFinished):
            await asyncio.to_thread(run.client().claim, 1)
    finally:
        await run.close()
