"""FrozenLake and Countdown logic (shared by the tutorials and the env server)."""

from __future__ import annotations

import pytest
from ajet_plugins_std.envs.countdown import CountdownEnv, check_equation, generate_puzzle
from ajet_plugins_std.envs.frozenlake import FrozenLakeEnv, generate_map, parse_action, solve


@pytest.mark.parametrize("seed", range(20))
def test_every_generated_map_is_solvable_within_the_step_limit(seed):
    board = generate_map(seed, size=5, max_steps=6)
    assert sum(row.count("S") for row in board) == 1 and sum(row.count("G") for row in board) == 1
    assert 1 <= len(solve(board)) <= 6


def test_maps_are_reproducible_and_differ_by_seed():
    assert generate_map(7) == generate_map(7)
    assert len({tuple(generate_map(s)) for s in range(10)}) > 5


def test_following_the_solution_reaches_the_goal():
    env = FrozenLakeEnv(seed=5)
    messages = env.reset()
    assert messages[0]["role"] == "system" and "P" in messages[1]["content"]
    moves = solve(env.board)
    for i, move in enumerate(moves):
        result = env.step(f"I will go {move}.\n```{move.capitalize()}```")
        assert result.done is (i == len(moves) - 1)
    assert (result.reward, result.info["outcome"], env.evaluate()) == (1.0, "goal", 1.0)
    assert "√" in env.render()


def test_invalid_action_does_not_move_but_uses_a_step():
    env = FrozenLakeEnv(seed=5, max_steps=2)
    env.reset()
    before = env.position
    result = env.step("I am not sure")
    assert env.position == before and result.info["invalid_action"] and not result.done
    result = env.step("```sideways```")
    assert result.done and result.info["outcome"] == "out_of_steps" and env.evaluate() == 0.0


def test_falling_into_a_hole_ends_the_episode():
    for seed in range(50):
        env = FrozenLakeEnv(seed=seed)
        env.reset()
        r, c = env.position
        for move, (dr, dc) in {
            "up": (-1, 0),
            "down": (1, 0),
            "left": (0, -1),
            "right": (0, 1),
        }.items():
            nr, nc = r + dr, c + dc
            if 0 <= nr < env.size and 0 <= nc < env.size and env.board[nr][nc] == "H":
                result = env.step(move)
                assert result.done and result.info["outcome"] == "hole" and "X" in env.render()
                return
    pytest.fail("no map with a hole next to the start in 50 seeds")


def test_slippery_episodes_replay_exactly():
    def play(seed):
        env = FrozenLakeEnv(seed=seed, slippery=True, slip_prob=0.5)
        env.reset()
        return [env.step("up").info.get("direction") for _ in range(4) if not env.finished]

    assert play(3) == play(3)


def test_parse_action_takes_the_last_code_block():
    assert parse_action("```Left``` no wait ```down```") == "down"
    assert parse_action("Up") is None


@pytest.mark.parametrize("seed", range(10))
def test_countdown_puzzles_are_in_range_and_reproducible(seed):
    puzzle = generate_puzzle(seed, count=4, max_number=10, max_target=50)
    assert puzzle == generate_puzzle(seed, count=4, max_number=10, max_target=50)
    assert (
        len(puzzle.numbers) == 4
        and all(1 <= n <= 10 for n in puzzle.numbers)
        and 1 <= puzzle.target <= 50
    )


def test_countdown_env_scores_one_turn():
    env = CountdownEnv(generate_puzzle(0), format_reward=0.1)
    prompt = env.reset()[1]["content"]
    assert str(env.puzzle.target) in prompt
    wrong = env.step(r"\boxed{1 + 1}")
    assert wrong.done and wrong.reward == 0.1 and env.evaluate() == 0.1
    assert env.step("again").info["already_done"]


def test_check_equation_exact_arithmetic():
    assert check_equation("10 / 4 * 2", [10, 4, 2], 5).correct  # exact fractions, no float error
    assert check_equation("(7 - 3) / (1 / 2)", [7, 3, 1, 2], 8).correct
    assert not check_equation("2 ** 3", [2, 3], 8).valid  # only + - * /
