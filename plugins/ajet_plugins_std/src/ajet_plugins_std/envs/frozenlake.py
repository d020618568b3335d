"""FrozenLake: walk from the start to the goal on a grid without falling into a hole.

Maps are generated from a seed and always have a path to the goal within ``max_steps`` moves.
The agent answers each observation with a direction in a code block (```Up```); anything else is
an invalid action that leaves the player where it was.
"""

from __future__ import annotations

import random
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ajet_plugins_std.envs.base import StepResult, TextEnv

SYSTEM_PROMPT = """You are walking on a frozen lake.
Goal: move the player (P) onto the goal (G). Falling into a hole (O) ends the game.
Symbols: _ frozen tile, O hole, G goal, P player.
Actions: Up, Down, Left, Right.
Reply with a short thought and then the next action in triple backticks, for example ```Up```."""

MOVES = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
ACTION_PATTERN = re.compile(r"```\s*(\w+)\s*```")


def parse_action(reply: str) -> str | None:
    """The direction in the reply's last ```...``` block (case-insensitive), or None."""
    matches = ACTION_PATTERN.findall(reply)
    if matches and matches[-1].lower() in MOVES:
        return matches[-1].lower()
    return None


def _shortest_path(board: list[list[str]], start: tuple[int, int]) -> int | None:
    size = len(board)
    queue, seen = deque([(start, 0)]), {start}
    while queue:
        (r, c), distance = queue.popleft()
        if board[r][c] == "G":
            return distance
        for dr, dc in MOVES.values():
            nr, nc = r + dr, c + dc
            if 0 <= nr < size and 0 <= nc < size and (nr, nc) not in seen and board[nr][nc] != "H":
                seen.add((nr, nc))
                queue.append(((nr, nc), distance + 1))
    return None


def solve(board: list[str]) -> list[str]:
    """A shortest list of moves from 'S' to 'G' avoiding holes (oracle for tests and baselines)."""
    grid = [list(row) for row in board]
    start = next((r, row.index("S")) for r, row in enumerate(board) if "S" in row)
    size = len(grid)
    queue, came_from = deque([start]), {start: None}
    while queue:
        r, c = queue.popleft()
        if grid[r][c] == "G":
            moves = []
            node = (r, c)
            while came_from[node] is not None:
                previous, move = came_from[node]
                moves.append(move)
                node = previous
            return moves[::-1]
        for name, (dr, dc) in MOVES.items():
            nxt = (r + dr, c + dc)
            if (
                0 <= nxt[0] < size
                and 0 <= nxt[1] < size
                and nxt not in came_from
                and grid[nxt[0]][nxt[1]] != "H"
            ):
                came_from[nxt] = ((r, c), name)
                queue.append(nxt)
    raise ValueError("the goal cannot be reached on this board")


MAP_ATTEMPTS = 10_000


def generate_map(
    seed: int, *, size: int = 4, frozen_prob: float = 0.8, max_steps: int = 8
) -> list[str]:
    """A ``size`` x ``size`` map ('S' start, 'G' goal, 'F' frozen, 'H' hole) whose goal is
    reachable from the start in at most ``max_steps`` moves."""
    if size < 2:
        raise ValueError(f"a FrozenLake map needs size >= 2, got {size}")
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1 (got {max_steps}): no goal is reachable in 0")
    rng = random.Random(f"frozenlake|{seed}|{size}|{frozen_prob}")
    # Bounded: parameters for which no map qualifies (few frozen tiles, a short step budget) must
    # be an error, not a loop that never returns.
    for _ in range(MAP_ATTEMPTS):
        board = [
            ["F" if rng.random() < frozen_prob else "H" for _ in range(size)] for _ in range(size)
        ]
        start = (rng.randrange(size), rng.randrange(size))
        goal = (rng.randrange(size), rng.randrange(size))
        if start == goal:
            continue
        board[start[0]][start[1]], board[goal[0]][goal[1]] = "S", "G"
        distance = _shortest_path(board, start)
        if distance is not None and distance <= max_steps:
            return ["".join(row) for row in board]
    raise ValueError(
        f"no {size}x{size} map with frozen_prob={frozen_prob} has its goal within "
        f"{max_steps} steps (tried {MAP_ATTEMPTS}); raise frozen_prob or max_steps"
    )


@dataclass
class FrozenLakeEnv(TextEnv):
    """A FrozenLake episode. ``slippery``: with probability ``slip_prob`` a move goes sideways
    (drawn from a generator seeded by the map seed, so episodes replay exactly)."""

    seed: int
    size: int = 4
    frozen_prob: float = 0.8
    max_steps: int = 8
    slippery: bool = False
    slip_prob: float = 0.2
    board: list[str] = field(init=False)
    position: tuple[int, int] = field(init=False)
    steps: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.board = generate_map(
            self.seed, size=self.size, frozen_prob=self.frozen_prob, max_steps=self.max_steps
        )
        self._start()

    def _start(self) -> None:
        row = next(i for i, line in enumerate(self.board) if "S" in line)
        self.position = (row, self.board[row].index("S"))
        self.steps = 0
        self._slips = random.Random(f"frozenlake-slip|{self.seed}")

    @property
    def tile(self) -> str:
        return self.board[self.position[0]][self.position[1]]

    @property
    def solved(self) -> bool:
        return self.tile == "G"

    @property
    def finished(self) -> bool:
        return self.tile in "GH" or self.steps >= self.max_steps

    def render(self) -> str:
        symbols = {"S": "_", "F": "_", "H": "O", "G": "G"}
        rows = []
        for r, line in enumerate(self.board):
            cells = []
            for c, tile in enumerate(line):
                if (r, c) == self.position:
                    cells.append({"H": "X", "G": "√"}.get(tile, "P"))
                else:
                    cells.append(symbols[tile])
            rows.append(" ".join(cells))
        return "\n".join(rows)

    def observation(self) -> str:
        remaining = self.max_steps - self.steps
        return f"Current map:\n{self.render()}\nSteps left: {remaining}. Give the next action."

    def reset(self) -> list[dict[str, Any]]:
        self._start()
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": self.observation()},
        ]

    def step(self, action: str) -> StepResult:
        """``action``: a direction word or a whole reply containing ```Direction```."""
        if self.finished:
            return StepResult(
                self.observation(), 0.0, True, {"action_is_effective": False, "already_done": True}
            )
        direction = (
            action.strip().lower() if action.strip().lower() in MOVES else parse_action(action)
        )
        self.steps += 1
        if direction is None:
            info = {"action_is_effective": False, "invalid_action": True}
        else:
            if self.slippery and self._slips.random() < self.slip_prob:
                sideways = ["left", "right"] if direction in ("up", "down") else ["up", "down"]
                direction = self._slips.choice(sideways)
            dr, dc = MOVES[direction]
            r, c = self.position[0] + dr, self.position[1] + dc
            moved = 0 <= r < self.size and 0 <= c < self.size
            if moved:
                self.position = (r, c)
            info = {"action_is_effective": moved, "direction": direction}
        reward = 1.0 if self.solved else 0.0
        done = self.finished
        if done:
            info["outcome"] = (
                "goal" if self.solved else ("hole" if self.tile == "H" else "out_of_steps")
            )
        return StepResult(self.observation(), reward, done, info)

    def evaluate(self) -> float:
        return 1.0 if self.solved else 0.0
