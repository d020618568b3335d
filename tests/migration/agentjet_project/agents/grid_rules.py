"""A helper module of the project, imported by the workflow the way AgentJet projects import
their own packages (``from agents.grid_rules import ...``)."""

MOVES = ("Up", "Down", "Left", "Right")


def goal_move(seed: int) -> str:
    """The move that reaches the goal in the puzzle numbered ``seed``."""
    return MOVES[seed % len(MOVES)]


def parse_move(text: str) -> str | None:
    for move in MOVES:
        if f"```{move}```" in text or text.strip() == move:
            return move
    return None
