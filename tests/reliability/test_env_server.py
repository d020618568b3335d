"""The reference env server cannot be taken down or hijacked (issue 18, item 6)."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from ajet_plugins_std.envs.countdown import CountdownEnv, generate_puzzle
from ajet_plugins_std.envs.protocol import TOKEN_HEADER
from ajet_plugins_std.envs.server import CountdownSpec, FrozenLakeSpec, create_app


def client_for(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://env")


def create_body(instance_id: str, **params) -> dict:
    return {"env_type": "frozenlake", "task_id": "3", "instance_id": instance_id, "params": params}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"max_steps": 0}, "params.max_steps"),
        ({"size": 1500}, "params.size"),
        ({"frozen_prob": 0.0}, "params.frozen_prob"),
    ],
)
def test_parameters_that_would_hang_or_stall_the_server_are_refused(params, named):
    async def go():
        async with client_for(create_app()) as http:
            answer = await http.post("/create", json=create_body("a", **params))
            health = await http.get("/health")
        return answer, health

    answer, health = asyncio.run(go())
    assert answer.status_code == 400 and named in answer.json()["error"]
    assert health.status_code == 200 and health.json()["instances"] == 0


def test_only_the_creator_can_step_read_or_release_an_instance():
    async def go():
        async with client_for(create_app()) as http:
            created = (await http.post("/create", json=create_body("mine"))).json()
            token = created["data"]["info"]["instance_token"]
            body = {"instance_id": "mine", "messages": {"role": "assistant", "content": "up"}}
            stranger = [
                (await http.post(f"/{name}", json=body, headers=headers)).status_code
                for name in ("step", "evaluate", "get_info", "release")
                for headers in ({}, {TOKEN_HEADER: "guessed"})
            ]
            hijack = await http.post("/create", json=create_body("mine"))
            owner = await http.post("/step", json=body, headers={TOKEN_HEADER: token})
            released = await http.post("/release", json=body, headers={TOKEN_HEADER: token})
        return stranger, hijack, owner, released

    stranger, hijack, owner, released = asyncio.run(go())
    assert stranger == [403] * 8
    assert hijack.status_code == 403  # re-creating someone's id would reset their episode
    assert owner.status_code == 200 and released.json() == {"success": True}


def test_instances_are_capped():
    async def go():
        async with client_for(create_app(max_instances=3)) as http:
            codes = [
                (await http.post("/create", json=create_body(f"i{n}"))).status_code
                for n in range(4)
            ]
        return codes

    assert asyncio.run(go()) == [200, 200, 200, 429]


class StallingSpec(CountdownSpec):
    """An environment whose construction stalls until released (a slow generator)."""

    release = threading.Event()

    def make(self, task_id, params):
        self.release.wait(60)
        return CountdownEnv(generate_puzzle(int(task_id)))


def test_slow_environment_work_runs_off_the_event_loop_with_a_timeout():
    app = create_app({"slow": StallingSpec(), "frozenlake": FrozenLakeSpec()}, call_timeout=1.0)

    async def go():
        async with client_for(app) as http:
            slow = asyncio.ensure_future(
                http.post("/create", json={"env_type": "slow", "task_id": "1", "instance_id": "s"})
            )
            health = await http.get("/health")  # answers while the create is stuck
            answer = await slow
            StallingSpec.release.set()  # let the stuck worker thread finish
            return health, answer

    try:
        health, slow = asyncio.run(go())
    finally:
        StallingSpec.release.set()
    assert health.status_code == 200
    assert slow.status_code == 503 and "longer than 1 s" in slow.json()["error"]
