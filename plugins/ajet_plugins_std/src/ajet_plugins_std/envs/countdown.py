"""Countdown: combine the given numbers with + - * / to reach a target.

Puzzles are generated from a seed (always solvable: the target is the value of a random
expression over the numbers); answers are checked by parsing them as Python expressions with
:mod:`ast` and evaluating exactly with :class:`fractions.Fraction` — never ``eval``.
"""

from __future__ import annotations

import ast
import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ajet_plugins_std.answers import extract_answer
from ajet_plugins_std.envs.base import StepResult, TextEnv

SYSTEM_PROMPT = (
    "You solve countdown number puzzles. Combine the given numbers with +, -, * and / to reach "
    "the target; use every number exactly once. Think briefly, then give the equation in "
    "\\boxed{}, for example \\boxed{(1 + 2) * 3}."
)


@dataclass(frozen=True)
class CountdownPuzzle:
    target: int
    numbers: tuple[int, ...]

    def prompt(self) -> str:
        return (
            f"Target number: {self.target}\nAvailable numbers: "
            f"{', '.join(map(str, self.numbers))}\nFind an equation that uses each number exactly "
            "once and equals the target."
        )

    def as_metadata(self) -> dict[str, Any]:
        # AgentJet's Countdown data names these 'target' and 'nums'.
        return {"target": self.target, "nums": list(self.numbers)}


def generate_puzzle(
    seed: int, *, count: int = 3, max_number: int = 20, max_target: int = 100
) -> CountdownPuzzle:
    """A solvable puzzle with ``count`` numbers in 1..max_number and a target in 1..max_target."""
    if count < 2:
        raise ValueError(f"a countdown puzzle needs at least 2 numbers, got count={count}")
    rng = random.Random(f"countdown|{seed}|{count}|{max_number}|{max_target}")
    while True:
        numbers = [rng.randint(1, max_number) for _ in range(count)]
        values = [Fraction(n) for n in numbers]
        order = list(range(count))
        rng.shuffle(order)
        value = values[order[0]]
        for index in order[1:]:
            op = rng.choice("+-*/")
            operand = values[index]
            value = (
                {"+": value + operand, "-": value - operand, "*": value * operand}.get(op)
                if op != "/"
                else value / operand
            )
        if value.denominator == 1 and 1 <= value <= max_target:
            return CountdownPuzzle(target=int(value), numbers=tuple(numbers))


class EquationError(ValueError):
    """The text is not an arithmetic expression over integers."""


_OPERATORS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


def _evaluate(node: ast.AST, used: list[int]) -> Fraction:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, used)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left, used), _evaluate(node.right, used)
        if isinstance(node.op, ast.Div) and right == 0:
            raise EquationError("division by zero")
        return _OPERATORS[type(node.op)](left, right)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        used.append(node.value)
        return Fraction(node.value)
    raise EquationError(
        f"only integers, + - * / and parentheses are allowed, found {ast.dump(node)[:60]}"
    )


def normalise_equation(text: str) -> str:
    text = text.replace("×", "*").replace("÷", "/").replace("\\times", "*").replace("\\div", "/")
    text = (
        text.replace("\\cdot", "*").replace("\\left", "").replace("\\right", "").strip().strip("$")
    )
    if "=" in text:
        # '(1 + 2) * 3 = 9': the expression is the side that is not just a number.
        sides = [s.strip() for s in text.split("=")]
        text = next((s for s in sides if not s.lstrip("-").isdigit()), sides[0])
    return text


@dataclass(frozen=True)
class EquationCheck:
    valid: bool  # parses as arithmetic over integers
    numbers_ok: bool  # uses the given numbers as required
    value: Fraction | None
    hits_target: bool
    reason: str

    @property
    def correct(self) -> bool:
        return self.valid and self.numbers_ok and self.hits_target


def check_equation(
    equation: str,
    numbers: list[int] | tuple[int, ...],
    target: int | float,
    *,
    require_all_numbers: bool = True,
) -> EquationCheck:
    """Check an equation against a puzzle: valid arithmetic, numbers used once, equals target."""
    text = normalise_equation(equation)
    used: list[int] = []
    try:
        value = _evaluate(ast.parse(text, mode="eval"), used)
    except (SyntaxError, EquationError, RecursionError) as exc:
        return EquationCheck(False, False, None, False, f"not a valid equation: {exc}")
    available = sorted(int(n) for n in numbers)
    if require_all_numbers:
        numbers_ok = sorted(used) == available
    else:
        remaining = list(available)
        numbers_ok = True
        for n in used:
            if n in remaining:
                remaining.remove(n)
            else:
                numbers_ok = False
                break
    hits = value == Fraction(target).limit_denominator(10**6)
    if not numbers_ok:
        reason = f"uses {sorted(used)}, puzzle numbers are {available}"
    elif not hits:
        reason = f"equals {value}, target is {target}"
    else:
        reason = "correct"
    return EquationCheck(True, numbers_ok, value, hits, reason)


class CountdownEnv(TextEnv):
    """One turn: the agent answers; reward 1 for a correct equation, ``format_reward`` for a
    boxed but wrong one, 0 otherwise."""

    def __init__(self, puzzle: CountdownPuzzle, *, format_reward: float = 0.0) -> None:
        self.puzzle = puzzle
        self.format_reward = format_reward
        self.score = 0.0
        self.done = False

    def reset(self) -> list[dict[str, Any]]:
        self.score, self.done = 0.0, False
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": self.puzzle.prompt()},
        ]

    def step(self, action: str) -> StepResult:
        if self.done:
            return StepResult("The puzzle is already answered.", 0.0, True, {"already_done": True})
        self.done = True
        answer = extract_answer(action, None)
        if answer is None:
            self.score = 0.0
            return StepResult("No \\boxed{} answer found.", 0.0, True, {"reason": "no answer"})
        check = check_equation(answer, self.puzzle.numbers, self.puzzle.target)
        self.score = 1.0 if check.correct else self.format_reward
        return StepResult(f"Checked: {check.reason}.", self.score, True, {"reason": check.reason})

    def evaluate(self) -> float:
        return self.score
