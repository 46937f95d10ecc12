"""``evaluate``: play two agents against each other and count the results per seat.

The confidence interval is the Wilson score interval (95 % by default) of
agent A's win rate, per seat and overall; it stays within [0, 1] and is
sound for small numbers of games and for rates near 0 or 1, unlike the
normal approximation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from ..game import AbstractGame
from ._agents import Agent, resolve_agent
from ._common import Address, player_count, resolve_game
from .aec import GameAECEnv, aec_env


@dataclass
class SeatResult:
    """Agent A's results from one seat (or from all seats: ``seat`` None)."""

    seat: int | None
    wins: int = 0
    draws: int = 0
    losses: int = 0
    confidence: float = 0.95

    @property
    def games(self) -> int:
        return self.wins + self.draws + self.losses

    @property
    def win_rate(self) -> float:
        return self.wins / self.games if self.games else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """The Wilson score interval of the win rate at ``confidence``."""
        return wilson_interval(self.wins, self.games, self.confidence)

    def __str__(self) -> str:
        low, high = self.interval
        where = "all seats" if self.seat is None else f"seat {self.seat}"
        return (f"{where}: {self.games} games, {self.wins} won, {self.draws} drawn, "
                f"{self.losses} lost; win rate {self.win_rate:.1%} "
                f"({self.confidence:.0%} interval {low:.1%} to {high:.1%})")


@dataclass
class Evaluation:
    """What ``evaluate`` returns: agent A's results, overall and per seat."""

    game: str
    overall: SeatResult
    seats: list[SeatResult] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join([f"{self.game}, agent A's results", f"  {self.overall}"]
                         + [f"  {seat}" for seat in self.seats])


def wilson_interval(successes: int, trials: int, confidence: float = 0.95
                    ) -> tuple[float, float]:
    """The Wilson score interval for a rate of ``successes`` out of ``trials``."""
    if trials == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    rate = successes / trials
    denominator = 1 + z * z / trials
    centre = (rate + z * z / (2 * trials)) / denominator
    spread = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials))
    spread /= denominator
    return max(0.0, centre - spread), min(1.0, centre + spread)


def evaluate(agent_a: Any, agent_b: Any, game: type[AbstractGame] | str, n_games: int = 1000,
             *, players: int | None = None, server: Address | None = None,
             seed: int | None = None, names: tuple[str, str] = ("agent_a", "agent_b"),
             confidence: float = 0.95, **options: Any) -> Evaluation:
    """Play ``n_games`` of ``game``: agent A in each seat in turn, agent B in the others.

    Args:
        agent_a, agent_b: functions ``(observation, action_mask) -> action``,
            or ``"random"`` (the bundled bot's policy).
        game: the game class (or a bundled game's name) with the RL hooks.
        n_games: games in all, shared out evenly over the seats.
        players: the number of players (default: the game's minimum).
        server: None (in-process) or ``("host", port)``: then every game is
            played on that server, named ``names`` (agent B's extra seats get
            ``"agent_b 2"``, ...), and shows in its history and leaderboard.
        seed: makes in-process evaluations repeat exactly (with seeded agents).
        names: the players' names for agent A and agent B.
        confidence: of the Wilson score interval (default 0.95).
        **options: passed to ``aec_env`` (``session``, ``tls``, ``timeout``, ...).

    Returns:
        Agent A's wins, draws and losses per seat and overall, with intervals.
    """
    first = resolve_agent(agent_a, seed)
    second = resolve_agent(agent_b, None if seed is None else seed + 1)
    spec = resolve_game(game, "evaluate")
    count = player_count(spec, players)
    session = options.pop("session", None)
    seats = [SeatResult(seat, confidence=confidence) for seat in range(count)]
    for seat in range(count):
        games = n_games // count + (1 if seat < n_games % count else 0)
        if not games:
            continue
        seat_names = [f"{names[1]} {n}" if n > 1 else names[1] for n in range(1, count)]
        seat_names.insert(seat, names[0])
        env = aec_env(game, count, server, names=seat_names,
                      session=f"{session}-{seat}" if session else None, **options)
        try:
            for number in range(games):
                game_seed = None if seed is None else seed * 1000 + seat * 1_000_000 + number
                reward = _play(env, seat, first, second, game_seed)
                result = seats[seat]
                if reward > 0:
                    result.wins += 1
                elif reward < 0:
                    result.losses += 1
                else:
                    result.draws += 1
        finally:
            env.close()
    overall = SeatResult(None, sum(s.wins for s in seats), sum(s.draws for s in seats),
                         sum(s.losses for s in seats), confidence)
    return Evaluation(spec.name, overall, seats)


def _play(env: GameAECEnv, seat: int, first: Agent, second: Agent, seed: int | None
          ) -> float:
    """One game with ``first`` in ``seat``; the final reward of that seat."""
    env.reset(seed=seed)
    mine = f"player_{seat}"
    final = 0.0
    for agent in env.agent_iter():
        observation, reward, terminated, truncated, _ = env.last()
        if terminated or truncated:
            if agent == mine:
                final = float(reward)
            env.step(None)
            continue
        policy = first if agent == mine else second
        env.step(policy(observation["observation"], observation["action_mask"]))
    return final
