"""The rules of a small Werewolves game, with no model in sight (so they are tested directly).

One werewolf among villagers. Each night the werewolf eliminates a villager; each day every
living player speaks once, then all vote, and a strict majority eliminates a player. The village
wins when the werewolf is voted out (or survives ``max_days`` without reaching parity); the
werewolf wins once it is as many as the villagers left.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

WEREWOLF = "werewolf"
VILLAGER = "villager"
WEREWOLVES_WIN = "werewolves"
VILLAGERS_WIN = "villagers"


@dataclass
class Game:
    roles: dict[str, str]  # player -> role, in seating order
    max_days: int = 3
    alive: list[str] = field(default_factory=list)
    day: int = 0
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        wolves = [p for p, r in self.roles.items() if r == WEREWOLF]
        if len(wolves) != 1 or len(self.roles) < 3:
            raise ValueError(
                f"a game needs exactly one werewolf and at least 3 players, got {self.roles}"
            )
        self.alive = list(self.roles)

    @property
    def werewolf(self) -> str:
        return next(p for p, r in self.roles.items() if r == WEREWOLF)

    def living_villagers(self) -> list[str]:
        return [p for p in self.alive if self.roles[p] == VILLAGER]

    def others(self, player: str) -> list[str]:
        return [p for p in self.alive if p != player]

    def eliminate(self, player: str, how: str) -> None:
        self.alive.remove(player)
        self.log.append(f"day {self.day}: {player} ({self.roles[player]}) {how}")

    def night_kill(self, victim: str | None) -> str | None:
        """The werewolf's choice; an invalid one (not a living villager) kills nobody."""
        if victim in self.living_villagers():
            self.eliminate(victim, "killed at night")
            return victim
        self.log.append(f"day {self.day}: nobody killed at night")
        return None

    def tally(self, votes: dict[str, str | None]) -> str | None:
        """Eliminate the player a strict majority of the living voted for (bad votes abstain)."""
        valid = Counter(
            t for voter, t in votes.items() if voter in self.alive and t in self.others(voter)
        )
        if valid:
            target, count = valid.most_common(1)[0]
            if count * 2 > len(self.alive):
                self.eliminate(target, f"voted out {count}/{len(self.alive)}")
                return target
        self.log.append(f"day {self.day}: no majority")
        return None

    def winner(self) -> str | None:
        if self.werewolf not in self.alive:
            return VILLAGERS_WIN
        if len(self.living_villagers()) <= 1:
            return WEREWOLVES_WIN
        if self.day >= self.max_days:
            return VILLAGERS_WIN  # the werewolf had its chances
        return None
