"""The apps behind AgentJet's env-service protocol: the reference server of ``ajet-plugins-std``
(:func:`ajet_plugins_std.envs.server.create_app`) with one more environment type, ``appworld``.

    python tutorial/example_appworld/appworld_server.py --data tutorial/example_appworld/data

``run.py`` starts it for you. Tasks come from ``make_data.py``'s files; each ``create`` makes a
fresh :class:`~appworld_apps.AppWorldEnv` (its own copy of the task's initial state), ``step``
is one API call, ``evaluate`` is the state judge's score.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ajet_plugins_std.envs.base import TextEnv
from ajet_plugins_std.envs.server import SPLIT_ALIASES, create_app

# A sibling module: a script's own folder is on sys.path.
from appworld_apps import AppTask, AppWorldEnv, load_tasks

ENV_TYPE = "appworld"


@dataclass
class AppWorldSpec:
    """The env-service spec: task ids per split, and a fresh environment per instance."""

    tasks: dict[str, dict[str, AppTask]] = field(default_factory=dict)
    max_api_calls: int = 40

    @classmethod
    def from_folder(cls, folder: Path, *, max_api_calls: int = 40) -> AppWorldSpec:
        tasks: dict[str, dict[str, AppTask]] = {}
        for split in ("train", "validation"):
            path = folder / f"{split}.jsonl"
            if not path.is_file():
                raise SystemExit(
                    f"appworld server: no {path}; run python tutorial/example_appworld/"
                    f"make_data.py --out {folder} first"
                )
            tasks[split] = {t.task_id: t for t in load_tasks(str(path))}
        return cls(tasks, max_api_calls)

    def task_ids(self, split: str) -> list[str]:
        canonical = SPLIT_ALIASES.get(split)
        if canonical is None:
            raise KeyError(f"unknown split {split!r}; use one of {', '.join(SPLIT_ALIASES)}")
        return list(self.tasks[canonical])

    def make(self, task_id: str, params: dict[str, Any]) -> TextEnv:
        for split in self.tasks.values():
            if task_id in split:
                return AppWorldEnv(split[task_id], max_api_calls=self.max_api_calls)
        raise KeyError(f"no appworld task {task_id!r}; get_env_profile lists the task ids")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="AppWorld-style apps behind the env service")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parent / "data")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument(
        "--fd", type=int, default=None, help="serve on this already-bound socket (run.py's)"
    )
    parser.add_argument("--max-api-calls", type=int, default=40)
    parser.add_argument("--instance-ttl", type=float, default=600.0)
    args = parser.parse_args(argv)
    spec = AppWorldSpec.from_folder(args.data, max_api_calls=args.max_api_calls)
    import uvicorn

    app = create_app({ENV_TYPE: spec}, instance_ttl=args.instance_ttl)
    if args.fd is not None:
        uvicorn.run(app, fd=args.fd, log_level="warning")
    else:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
