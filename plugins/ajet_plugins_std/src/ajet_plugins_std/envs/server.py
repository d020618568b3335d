"""Reference environment service: FrozenLake and Countdown behind AgentJet's HTTP protocol.

    python -m ajet_plugins_std.envs.server --port 8080

Read it as the protocol's example (:mod:`ajet_plugins_std.envs.protocol`); tests start it on
127.0.0.1. Instances live in memory; one not used for ``--instance-ttl`` seconds is dropped, so a
client that dies without releasing cannot exhaust the server.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ajet_plugins_std.envs.base import TextEnv
from ajet_plugins_std.envs.countdown import CountdownEnv, generate_puzzle
from ajet_plugins_std.envs.frozenlake import FrozenLakeEnv
from ajet_plugins_std.envs.protocol import TOKEN_HEADER, message_text

# Validation seeds start here so they never overlap training seeds.
VALIDATION_SEED_BASE = 1_000_000
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "val": "validation",
    "test": "validation",
    "dev": "validation",
}


class EnvSpec(Protocol):
    def task_ids(self, split: str) -> list[str]: ...

    def make(self, task_id: str, params: dict[str, Any]) -> TextEnv: ...


@dataclass
class SeededSpec:
    """Tasks are seeds: ``train_size`` training seeds from 0, validation seeds from 1,000,000."""

    train_size: int = 1000
    validation_size: int = 100

    def task_ids(self, split: str) -> list[str]:
        canonical = SPLIT_ALIASES.get(split)
        if canonical is None:
            raise KeyError(f"unknown split {split!r}; use one of {', '.join(SPLIT_ALIASES)}")
        if canonical == "train":
            return [str(i) for i in range(self.train_size)]
        return [str(VALIDATION_SEED_BASE + i) for i in range(self.validation_size)]

    @staticmethod
    def seed(task_id: str) -> int:
        try:
            return int(task_id)
        except (TypeError, ValueError):
            raise KeyError(f"task id {task_id!r} is not a seed (an integer)") from None


class FrozenLakeParams(BaseModel):
    size: int = Field(ge=2, le=16)
    max_steps: int = Field(ge=1, le=256)
    frozen_prob: float = Field(ge=0.5, le=1.0)
    slippery: bool


@dataclass
class FrozenLakeSpec(SeededSpec):
    size: int = 4
    max_steps: int = 8
    frozen_prob: float = 0.8
    slippery: bool = False

    def make(self, task_id: str, params: dict[str, Any]) -> TextEnv:
        options = {
            "size": self.size,
            "max_steps": self.max_steps,
            "frozen_prob": self.frozen_prob,
            "slippery": self.slippery,
        }
        options.update({k: params[k] for k in options if k in params})
        # Bounded, so no request can make map generation loop or stall the server.
        checked = FrozenLakeParams.model_validate(options)
        return FrozenLakeEnv(seed=self.seed(task_id), **checked.model_dump())


@dataclass
class CountdownSpec(SeededSpec):
    count: int = 3
    max_number: int = 20
    max_target: int = 100
    format_reward: float = 0.0

    def make(self, task_id: str, params: dict[str, Any]) -> TextEnv:
        puzzle = generate_puzzle(
            self.seed(task_id),
            count=self.count,
            max_number=self.max_number,
            max_target=self.max_target,
        )
        format_reward = params.get("format_reward", self.format_reward)
        if not isinstance(format_reward, (int, float)) or not 0 <= format_reward <= 1:
            raise ValueError(
                f"params.format_reward must be a number in [0, 1], got {format_reward!r}"
            )
        return CountdownEnv(puzzle, format_reward=float(format_reward))


@dataclass
class Instance:
    env: TextEnv
    env_type: str
    task_id: str
    # Proof of ownership: later calls on the instance must present it (protocol.TOKEN_HEADER).
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    last_used: float = field(default_factory=time.monotonic)


class TooManyInstances(RuntimeError):
    """The server holds ``max_instances`` live instances (answered 429)."""


class Forbidden(PermissionError):
    """A call on an instance without its token (answered 403)."""


class EnvService:
    def __init__(
        self, specs: dict[str, EnvSpec], *, instance_ttl: float = 600.0, max_instances: int = 1024
    ) -> None:
        self.specs = specs
        self.instance_ttl = instance_ttl
        self.max_instances = max_instances
        self.instances: dict[str, Instance] = {}

    def _spec(self, env_type: Any) -> EnvSpec:
        if env_type not in self.specs:
            raise KeyError(
                f"unknown env_type {env_type!r}; this server has {', '.join(self.specs)}"
            )
        return self.specs[env_type]

    def _instance(self, instance_id: Any, token: str | None) -> Instance:
        instance = self.instances.get(instance_id)
        if instance is None:
            raise LookupError(f"no instance {instance_id!r} (never created, released, or expired)")
        if token is None or not secrets.compare_digest(token, instance.token):
            raise Forbidden(
                f"instance {instance_id!r} belongs to the client that created it; send the "
                f"instance_token from its create answer in the {TOKEN_HEADER} header"
            )
        instance.last_used = time.monotonic()
        return instance

    def _reap(self) -> None:
        cutoff = time.monotonic() - self.instance_ttl
        for instance_id in [i for i, inst in self.instances.items() if inst.last_used < cutoff]:
            del self.instances[instance_id]

    # -- endpoints ----------------------------------------------------------------------------
    def get_env_profile(self, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        split = (body.get("params") or {}).get("split", "train")
        return {"data": self._spec(body.get("env_type")).task_ids(split)}

    def create(self, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        self._reap()
        env_type, task_id, instance_id = (
            body.get("env_type"),
            body.get("task_id"),
            body.get("instance_id"),
        )
        if not instance_id:
            raise ValueError(
                "create needs an instance_id (the client chooses it, e.g. the episode id)"
            )
        if not isinstance(instance_id, str) or len(instance_id) > 256:
            raise ValueError("instance_id must be a string of at most 256 characters")
        existing = self.instances.get(instance_id)
        if existing is not None:
            # Creating an existing id again restarts it, for its owner only.
            self._instance(instance_id, token)
        elif len(self.instances) >= self.max_instances:
            raise TooManyInstances(
                f"the server holds {self.max_instances} instances (its --max-instances); release "
                "finished ones or wait for idle ones to expire"
            )
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise ValueError("params must be a JSON object")
        env = self._spec(env_type).make(str(task_id), params)
        instance = Instance(env, env_type, str(task_id))
        if existing is not None:
            instance.token = existing.token
        state = env.reset()
        self.instances[instance_id] = instance
        return {
            "data": {
                "state": state,
                "reward": 0.0,
                "is_terminated": False,
                "info": {
                    "instance_id": instance_id,
                    "task_id": task_id,
                    "instance_token": instance.token,
                },
            }
        }

    def step(self, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        instance = self._instance(body.get("instance_id"), token)
        result = instance.env.step(message_text(body.get("messages") or {}))
        return {
            "data": {
                "state": [{"role": "user", "content": result.observation}],
                "reward": result.reward,
                "is_terminated": result.done,
                "info": result.info,
            }
        }

    def evaluate(self, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        return {"data": self._instance(body.get("instance_id"), token).env.evaluate()}

    def release(self, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        instance_id = body.get("instance_id")
        if instance_id not in self.instances:
            return {"success": False}
        self._instance(instance_id, token)
        return {"success": self.instances.pop(instance_id, None) is not None}

    def get_info(self, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        instance = self._instance(body.get("instance_id"), token)
        return {"data": {"env_type": instance.env_type, "task_id": instance.task_id}}


def create_app(
    specs: dict[str, EnvSpec] | None = None,
    *,
    instance_ttl: float = 600.0,
    max_instances: int = 1024,
    call_timeout: float = 10.0,
) -> Starlette:
    """``call_timeout``: environment work (map generation, a step) runs in a worker thread, off
    the event loop, and a call that takes longer is answered 503, so /health always answers."""
    service = EnvService(
        specs
        if specs is not None
        else {"frozenlake": FrozenLakeSpec(), "countdown": CountdownSpec()},
        instance_ttl=instance_ttl,
        max_instances=max_instances,
    )
    # One environment call at a time: instances are not thread-safe, and the lock keeps a
    # stalled call from letting a queue of others pile threads up behind it.
    work_lock = asyncio.Lock()

    async def locked(handler: Any, body: dict[str, Any], token: str | None) -> Any:
        async with work_lock:
            return await asyncio.to_thread(handler, body, token)

    def endpoint(name: str):
        handler = getattr(service, name)

        async def handle(request: Request) -> JSONResponse:
            try:
                body = await request.json()
            except ValueError:
                return JSONResponse({"error": f"{name}: the body is not JSON"}, status_code=400)
            if not isinstance(body, dict):
                return JSONResponse(
                    {"error": f"{name}: the body must be a JSON object"}, status_code=400
                )
            token = request.headers.get(TOKEN_HEADER)
            try:
                answer = await asyncio.wait_for(locked(handler, body, token), call_timeout)
                return JSONResponse(answer)
            except asyncio.TimeoutError:
                return JSONResponse(
                    {"error": f"{name}: took longer than {call_timeout:g} s; try smaller params"},
                    status_code=503,
                )
            except Forbidden as exc:
                return JSONResponse({"error": f"{name}: {exc}"}, status_code=403)
            except TooManyInstances as exc:
                return JSONResponse({"error": f"{name}: {exc}"}, status_code=429)
            except ValidationError as exc:
                problems = "; ".join(
                    f"params.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
                )
                return JSONResponse({"error": f"{name}: {problems}"}, status_code=400)
            except LookupError as exc:  # KeyError is a LookupError too: unknown env type or split
                status = 400 if isinstance(exc, KeyError) else 404
                return JSONResponse(
                    {"error": f"{name}: {exc.args[0] if exc.args else exc}"}, status_code=status
                )
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": f"{name}: {exc}"}, status_code=400)

        return handle

    async def health(_: Request) -> JSONResponse:
        return JSONResponse(
            {"ok": True, "env_types": list(service.specs), "instances": len(service.instances)}
        )

    routes = [
        Route(f"/{name}", endpoint(name), methods=["POST"])
        for name in ("get_env_profile", "create", "step", "evaluate", "release", "get_info")
    ]
    routes.append(Route("/health", health, methods=["GET"]))
    app = Starlette(routes=routes)
    app.state.service = service
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="AgentJet reference environment service (FrozenLake, Countdown)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--validation-size", type=int, default=100)
    parser.add_argument("--frozenlake-size", type=int, default=4)
    parser.add_argument("--frozenlake-max-steps", type=int, default=8)
    parser.add_argument("--slippery", action="store_true")
    parser.add_argument("--countdown-numbers", type=int, default=3)
    parser.add_argument("--instance-ttl", type=float, default=600.0)
    parser.add_argument("--max-instances", type=int, default=1024)
    parser.add_argument("--call-timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    sizes = {"train_size": args.train_size, "validation_size": args.validation_size}
    specs: dict[str, EnvSpec] = {
        "frozenlake": FrozenLakeSpec(
            size=args.frozenlake_size,
            max_steps=args.frozenlake_max_steps,
            slippery=args.slippery,
            **sizes,
        ),
        "countdown": CountdownSpec(count=args.countdown_numbers, **sizes),
    }
    import uvicorn

    uvicorn.run(
        create_app(
            specs,
            instance_ttl=args.instance_ttl,
            max_instances=args.max_instances,
            call_timeout=args.call_timeout,
        ),
        host=args.host,
        port=args.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
