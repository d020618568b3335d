"""The viewer's Starlette app: a static page plus JSON endpoints over one or more run folders.

Endpoints (``RUN`` is the run's index in the command line, 0 first):
``/api/runs``; ``/api/runs/RUN/steps``; ``/api/runs/RUN/steps/MODE/STEP/episodes`` with
``filter``, ``sort``, ``task``, ``offset``, ``limit``;
``/api/runs/RUN/steps/MODE/STEP/episodes/ID``;
``/api/runs/RUN/before_after`` with ``task`` (one held-out task at the first and last evaluation);
``/api/metrics`` (every run's ``metrics.jsonl`` rows, for the overlaid reward curves).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ajet_core.viewer.run_store import RunStore
from ajet_core.viewer.tokens import load_tokenizer, with_token_strips

MAX_PAGE = 500


def static_dir() -> Path:
    return Path(str(resources.files("ajet_core.viewer") / "static"))


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"query parameter {name}={raw!r} is not an integer") from None
    if not low <= value <= high:
        raise ValueError(f"query parameter {name}={value} is outside {low}..{high}")
    return value


def create_app(run_dirs: list[Path]) -> Starlette:
    stores = [RunStore(Path(d)) for d in run_dirs]

    def store_of(request: Request) -> RunStore:
        index = request.path_params["run"]
        if not 0 <= index < len(stores):
            raise KeyError(f"no run {index}; runs are 0..{len(stores) - 1}")
        return stores[index]

    def guarded(handler):
        async def endpoint(request: Request) -> JSONResponse:
            try:
                return JSONResponse(handler(request))
            except KeyError as exc:
                return _error(404, str(exc.args[0]) if exc.args else "not found")
            except ValueError as exc:
                return _error(400, str(exc))

        return endpoint

    def runs(request: Request):
        return [{"index": i, "name": s.name, "path": str(s.run_dir)} for i, s in enumerate(stores)]

    def steps(request: Request):
        return store_of(request).steps()

    def episodes(request: Request):
        params = request.query_params
        return store_of(request).list_episodes(
            request.path_params["mode"],
            request.path_params["step"],
            kind=params.get("filter", "all"),
            sort=params.get("sort", "order"),
            task=params.get("task", ""),
            offset=_int_param(request, "offset", 0, 0, 10**9),
            limit=_int_param(request, "limit", 50, 1, MAX_PAGE),
        )

    def episode(request: Request):
        store = store_of(request)
        record = store.episode(
            request.path_params["mode"],
            request.path_params["step"],
            request.path_params["episode_id"],
        )
        return with_token_strips(record, load_tokenizer(store.model_path()))

    def before_after(request: Request):
        return store_of(request).before_after(request.query_params.get("task", ""))

    def metrics(request: Request):
        return {
            "runs": [
                {"index": i, "name": s.name, "rows": s.metrics()} for i, s in enumerate(stores)
            ]
        }

    async def index(request: Request) -> FileResponse:
        return FileResponse(static_dir() / "index.html")

    run = "/api/runs/{run:int}"
    step = run + "/steps/{mode:str}/{step:int}"
    app = Starlette(
        routes=[
            Route("/", index),
            Route("/api/runs", guarded(runs)),
            Route(run + "/steps", guarded(steps)),
            Route(step + "/episodes", guarded(episodes)),
            Route(step + "/episodes/{episode_id:str}", guarded(episode)),
            Route(run + "/before_after", guarded(before_after)),
            Route("/api/metrics", guarded(metrics)),
            Mount("/static", StaticFiles(directory=static_dir()), name="static"),
        ]
    )
    app.state.stores = stores
    return app
