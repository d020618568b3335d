"""Reading a run folder for the viewer: step files, episode summaries, filters, metrics.

The folder is listed again on every request, so steps written while a run trains appear without
a restart. Parsed files are cached by (size, mtime) and only a few are kept, so a run of
hundreds of steps never sits in memory at once; step summaries are small and kept for all.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ajet_core.errors import AjetError
from ajet_core.metric_loggers.jsonl import METRICS_FILE, read_metrics
from ajet_core.rollout.runner import EVAL_MODE
from ajet_core.training.records import RECORDS_DIR, read_records

STEP_FILE = re.compile(r"^(?P<mode>[a-z]+)_step_(?P<step>\d+)\.jsonl\.gz$")
FILTERS = ("all", "failed", "drift", "truncated")
SORTS = ("order", "reward_asc", "reward_desc")
PARSED_FILES_KEPT = 4
SUMMARY_BUDGET_SECONDS = 0.5


@dataclass(frozen=True)
class StepFile:
    mode: str
    step: int
    path: Path

    @property
    def stamp(self) -> tuple[int, int]:
        stat = self.path.stat()
        return stat.st_size, stat.st_mtime_ns


def episode_summary(index: int, episode: dict[str, Any]) -> dict[str, Any]:
    calls = episode.get("calls") or []
    task = episode.get("task") or {}
    return {
        "index": index,
        "episode_id": episode.get("episode_id"),
        "task_id": task.get("task_id"),
        "query": (task.get("main_query") or "")[:200],
        "group_key": episode.get("group_key"),
        "reward": episode.get("reward"),
        "is_success": episode.get("is_success"),
        "error": episode.get("error"),
        "advantage": episode.get("advantage"),
        "calls": len(calls),
        "samples": len(episode.get("samples") or []),
        "drift_fallbacks": episode.get("drift_fallbacks") or 0,
        "truncated": any(call.get("finish_reason") == "length" for call in calls),
    }


def _passes(summary: dict[str, Any], kind: str) -> bool:
    if kind == "failed":
        return bool(summary["error"]) or summary["is_success"] is False
    if kind == "drift":
        return summary["drift_fallbacks"] > 0
    if kind == "truncated":
        return summary["truncated"]
    return True


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


class RunStore:
    def __init__(self, run_dir: Path) -> None:
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise AjetError(
                f"run folder {str(run_dir)!r} does not exist; pass a folder under "
                "runs/<experiment>/"
            )
        if not (run_dir / RECORDS_DIR).is_dir() and not (run_dir / METRICS_FILE).exists():
            raise AjetError(
                f"{str(run_dir)!r} is not a run folder: it has neither {RECORDS_DIR}/ nor "
                f"{METRICS_FILE}; pass the folder 'ajet train' printed (runs/<experiment>/<time>/)"
            )
        self.run_dir = run_dir
        self.name = f"{run_dir.parent.name}/{run_dir.name}"
        self._parsed: OrderedDict[Path, tuple[tuple[int, int], list[dict[str, Any]]]] = (
            OrderedDict()
        )
        self._summaries: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}

    def model_path(self) -> str | None:
        config = self.run_dir / "config.yaml"
        if not config.exists():
            return None
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        return (data.get("model") or {}).get("path")

    def step_files(self) -> list[StepFile]:
        folder = self.run_dir / RECORDS_DIR
        if not folder.is_dir():
            return []
        files = []
        for path in folder.iterdir():
            match = STEP_FILE.match(path.name)
            if match:
                files.append(StepFile(match["mode"], int(match["step"]), path))
        return sorted(files, key=lambda f: (f.step, f.mode))

    def step_file(self, mode: str, step: int) -> StepFile:
        for candidate in self.step_files():
            if candidate.mode == mode and candidate.step == step:
                return candidate
        raise KeyError(f"no {mode} records for step {step} in {self.run_dir}")

    def episodes(self, step_file: StepFile) -> list[dict[str, Any]]:
        stamp = step_file.stamp
        cached = self._parsed.get(step_file.path)
        if cached and cached[0] == stamp:
            self._parsed.move_to_end(step_file.path)
            return cached[1]
        episodes = list(read_records(step_file.path))
        self._parsed[step_file.path] = (stamp, episodes)
        while len(self._parsed) > PARSED_FILES_KEPT:
            self._parsed.popitem(last=False)
        return episodes

    def step_summary(self, step_file: StepFile) -> dict[str, Any]:
        stamp = step_file.stamp
        cached = self._summaries.get(step_file.path)
        if cached and cached[0] == stamp:
            return cached[1]
        rewards, errors, successes, count = [], 0, 0, 0
        # Stream the file: summaries of every step must not keep every step's episodes.
        for index, episode in enumerate(read_records(step_file.path)):
            summary = episode_summary(index, episode)
            count += 1
            errors += bool(summary["error"])
            successes += summary["is_success"] is True
            if summary["reward"] is not None:
                rewards.append(float(summary["reward"]))
        result = {
            "mode": step_file.mode,
            "step": step_file.step,
            "episodes": count,
            "errors": errors,
            "successes": successes,
            "reward_mean": _mean(rewards),
        }
        self._summaries[step_file.path] = (stamp, result)
        return result

    def steps(self, budget_seconds: float = SUMMARY_BUDGET_SECONDS) -> list[dict[str, Any]]:
        """Every step file; summaries not computed within the budget come back ``pending``.

        A run of hundreds of steps opened for the first time lists at once; the page asks again
        and the rest fill in (each file is summarised once, then cached by its mtime).
        """
        deadline = time.monotonic() + budget_seconds
        listed = []
        for step_file in self.step_files():
            cached = self._summaries.get(step_file.path)
            if (cached and cached[0] == step_file.stamp) or time.monotonic() < deadline:
                listed.append({**self.step_summary(step_file), "pending": False})
            else:
                listed.append(
                    {
                        "mode": step_file.mode,
                        "step": step_file.step,
                        "episodes": None,
                        "errors": None,
                        "successes": None,
                        "reward_mean": None,
                        "pending": True,
                    }
                )
        return listed

    def list_episodes(
        self,
        mode: str,
        step: int,
        *,
        kind: str = "all",
        sort: str = "order",
        task: str = "",
        offset: int = 0,
        limit: int = 50,
    ) -> dict[str, Any]:
        if kind not in FILTERS:
            raise ValueError(f"filter {kind!r} is not one of {', '.join(FILTERS)}")
        if sort not in SORTS:
            raise ValueError(f"sort {sort!r} is not one of {', '.join(SORTS)}")
        episodes = self.episodes(self.step_file(mode, step))
        summaries = [episode_summary(i, e) for i, e in enumerate(episodes)]
        groups: dict[str, list[float]] = {}
        for summary in summaries:
            if summary["reward"] is not None:
                groups.setdefault(summary["group_key"] or "", []).append(float(summary["reward"]))
        chosen = [s for s in summaries if _passes(s, kind)]
        if task:
            needle = task.lower()
            chosen = [s for s in chosen if needle in (s["task_id"] or "").lower()]
        if sort != "order":
            chosen.sort(
                key=lambda s: s["reward"] if s["reward"] is not None else float("-inf"),
                reverse=sort == "reward_desc",
            )
        return {
            "mode": mode,
            "step": step,
            "total": len(chosen),
            "offset": offset,
            "limit": limit,
            "episodes": chosen[offset : offset + limit],
            "groups": [{"group_key": key, "rewards": values} for key, values in groups.items()],
        }

    def episode(self, mode: str, step: int, episode_id: str) -> dict[str, Any]:
        for episode in self.episodes(self.step_file(mode, step)):
            if episode.get("episode_id") == episode_id:
                return episode
        raise KeyError(f"no episode {episode_id!r} in {mode} step {step}")

    def before_after(self, task_id: str = "") -> dict[str, Any]:
        """One held-out task at the run's first and last evaluation: what training changed.

        ``tasks`` lists every task of the first evaluation with its success at both ends, the
        tasks whose outcome changed first (those are the ones worth reading); without a
        ``task_id`` the first of them is shown. ``available`` is false until the run has two
        evaluations (``eval.before_train`` and a later one) with records.
        """
        evals = [f for f in self.step_files() if f.mode == EVAL_MODE]
        if len(evals) < 2:
            return {"available": False, "evals": [f.step for f in evals], "tasks": []}
        first, last = evals[0], evals[-1]
        # The first draw of each task (eval.num_repeat may draw several).
        before: dict[str, dict[str, Any]] = {}
        after: dict[str, dict[str, Any]] = {}
        for episodes, into in ((self.episodes(first), before), (self.episodes(last), after)):
            for episode in episodes:
                into.setdefault((episode.get("task") or {}).get("task_id"), episode)
        tasks = [
            {
                "task_id": key,
                "before": bool(before[key].get("is_success")),
                "after": bool(after[key].get("is_success")) if key in after else None,
            }
            for key in before
        ]
        tasks.sort(key=lambda t: t["before"] == t["after"])  # stable: changed outcomes first
        chosen = task_id or (tasks[0]["task_id"] if tasks else "")
        if chosen not in before or chosen not in after:
            raise KeyError(
                f"task {chosen!r} is not in both eval step {first.step} and eval step "
                f"{last.step} of {self.run_dir}; pick one of the listed tasks"
            )
        return {
            "available": True,
            "evals": [f.step for f in evals],
            "tasks": tasks,
            "task_id": chosen,
            "before": {"step": first.step, "episode": before[chosen]},
            "after": {"step": last.step, "episode": after[chosen]},
        }

    def metrics(self) -> list[dict[str, Any]]:
        return read_metrics(self.run_dir)
