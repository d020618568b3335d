"""A Werewolves game played by AgentScope 2.x agents; only the werewolf is trained.

Every player is an ordinary ``agentscope.agent.Agent`` with its own memory. The moderator is
plain Python (``werewolves_rules.Game``): it tells each agent what happened with ``observe`` and
asks for speeches, night kills and votes with ``reply``; a kill or vote counts when the reply
names exactly one of the allowed players.

Kills and votes are plain text on purpose. AgentScope's structured output works through the
gateway (a ``GenerateStructuredOutput`` tool call; see the adapter tests), but that tool is added
to the agent only for the replies that need it, so the tool list, and with it the rendered
system prompt, would change between a player's speeches and votes: each change starts the
player's prompt afresh (reported as a ``tools_changed`` fallback) and splits its game into
several training samples. With text, each player's whole game is one conversation, and the
werewolf's merges into one sample.

The AgentJet part is two lines: each agent's model comes from ``tuner.as_agentscope_model`` with
its own ``agent_name`` and a ``target_tag`` naming its role, and ``trainable_targets`` names the
role that is trained. The villagers' calls are recorded (the viewer shows the whole game) but
never trained; with ``villager_model`` set they play on a fixed model from
``rollout.fixed_endpoints`` instead of the policy.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, ClassVar

from agentscope.agent import Agent, InjectionConfig, ReActConfig
from agentscope.message import Msg, TextBlock
from werewolves_rules import VILLAGER, WEREWOLF, WEREWOLVES_WIN, Game

from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask

MODERATOR = "Moderator"
GOALS = {
    WEREWOLF: "You are the werewolf. Each night you eliminate a villager. By day, hide who you are "
    "and get the others to vote out a villager.",
    VILLAGER: "You are a villager. Find the werewolf: listen, speak, and vote out the player you "
    "suspect.",
}


def system_prompt(player: str, role: str, players: list[str]) -> str:
    others = ", ".join(p for p in players if p != player)
    return (
        f"You are {player}, playing Werewolves with {others}. {GOALS[role]} "
        "Keep every message to one or two short sentences."
    )


def moderator(text: str) -> Msg:
    return Msg(name=MODERATOR, content=[TextBlock(text=text)], role="user")


def named_player(text: str, candidates: list[str]) -> str | None:
    """The one candidate a reply names; a reply naming none or several is no choice."""
    mentioned = [c for c in candidates if re.search(rf"\b{re.escape(c)}\b", text)]
    return mentioned[0] if len(mentioned) == 1 else None


class WerewolvesGame(Workflow):
    trainable_targets: ClassVar[list[str]] = [WEREWOLF]

    def __init__(self, max_days: int = 3, villager_model: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_days = max_days
        self.villager_model = villager_model

    def make_agent(self, tuner: AjetTuner, player: str, role: str, players: list[str]) -> Agent:
        fixed = self.villager_model if role == VILLAGER else None
        return Agent(
            name=player,
            system_prompt=system_prompt(player, role, players),
            model=tuner.as_agentscope_model(agent_name=player, target_tag=role, debug_model=fixed),
            # No tools: each reply is one model call.
            react_config=ReActConfig(max_iters=1),
            injection_config=InjectionConfig(inject_runtime_state=False),
        )

    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        setup = task.task.metadata
        players: list[str] = list(setup["players"])
        game = Game(
            {p: WEREWOLF if p == setup["werewolf"] else VILLAGER for p in players},
            max_days=self.max_days,
        )
        agents = {p: self.make_agent(tuner, p, game.roles[p], players) for p in players}
        # [valid, asked] kills and votes, for the werewolf and for everyone.
        choices = {"werewolf": [0, 0], "all": [0, 0]}

        async def choose(player: str, prompt: str, candidates: list[str]) -> str | None:
            reply = await agents[player].reply(moderator(f"{prompt} Answer with the name only."))
            chosen = named_player(reply.get_text_content() or "", candidates)
            for who in ("all", "werewolf") if player == game.werewolf else ("all",):
                choices[who][0] += chosen is not None
                choices[who][1] += 1
            return chosen

        async def announce(text: str) -> None:
            for player in game.alive:
                await agents[player].observe(moderator(text))

        while game.winner() is None:
            game.day += 1
            victim = await choose(
                game.werewolf,
                f"Night {game.day}. Choose a villager to eliminate: "
                f"{', '.join(game.living_villagers())}.",
                game.living_villagers(),
            )
            killed = game.night_kill(victim)
            await announce(
                f"Night {game.day} is over. "
                + (f"{killed} was found dead." if killed else "Nobody died.")
            )
            if game.winner() is not None:
                break
            for speaker in list(game.alive):
                speech = await agents[speaker].reply(
                    moderator(
                        f"Day {game.day}. Alive: {', '.join(game.alive)}. {speaker}, say who you "
                        "suspect and why."
                    )
                )
                said = Msg(
                    name=speaker,
                    content=[TextBlock(text=speech.get_text_content() or "...")],
                    role="user",
                )
                for listener in game.others(speaker):
                    await agents[listener].observe(said)
            voters = list(game.alive)
            ballots = await asyncio.gather(
                *(
                    choose(
                        voter,
                        f"Day {game.day} vote. Name the player to eliminate: "
                        f"{', '.join(game.others(voter))}.",
                        game.others(voter),
                    )
                    for voter in voters
                )
            )
            votes = dict(zip(voters, ballots))
            out = game.tally(votes)
            tally = ", ".join(f"{voter}->{target or 'abstain'}" for voter, target in votes.items())
            await announce(
                f"Votes: {tally}. "
                + (f"{out} is eliminated." if out else "No majority: nobody is eliminated.")
            )

        winner = game.winner()
        return WorkflowOutput(
            metadata={
                "winner": winner,
                "werewolf": game.werewolf,
                "days": game.day,
                "werewolf_survived": game.werewolf in game.alive,
                "log": game.log,
            },
            log_metrics={
                "werewolves_won": float(winner == WEREWOLVES_WIN),
                "valid_choice_rate": choices["all"][0] / max(1, choices["all"][1]),
                "werewolf_valid_choice_rate": choices["werewolf"][0]
                / max(1, choices["werewolf"][1]),
            },
        )
