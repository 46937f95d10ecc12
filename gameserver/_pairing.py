"""Who plays whom: round-robin schedules and Swiss pairings, as pure functions.

Round robin uses the circle method: one participant stays, the others
rotate one place per round, so after ``n - 1`` rounds (``n`` even) everyone
has met everyone once. With an odd number a ``None`` joins the circle, and
whoever is paired with it has a bye that round.

Swiss pairs each round from the standings: the best-ranked participant not
yet paired meets the best-ranked one it has not met yet, and so on down;
when that leaves someone without an opponent, a depth-first search tries
the next choices, and only if no pairing without a rematch exists at all
(few participants, many rounds) are rematches allowed. With an odd number
the lowest-ranked participant that has not had a bye yet gets it.
"""

from __future__ import annotations

from collections.abc import Sequence

Pair = tuple[str | None, str | None]
SEARCH_STEPS = 20_000  # tries of the Swiss search before rematches are allowed


def round_robin(names: Sequence[str]) -> list[list[Pair]]:
    """Every round of a round robin of ``names``: pairs, with None for a bye.

    The first name of a pair sits first. The participant that stays in
    place alternates between first and second seat from round to round.
    """
    circle: list[str | None] = list(names)
    if len(circle) % 2:
        circle.append(None)
    size = len(circle)
    rounds = []
    for number in range(size - 1):
        pairs: list[Pair] = []
        for table in range(size // 2):
            first, second = circle[table], circle[size - 1 - table]
            if table == 0 and number % 2:
                first, second = second, first
            pairs.append((first, second))
        rounds.append(_byes_last(pairs))
        circle = [circle[0], circle[-1], *circle[1:-1]]
    return rounds


def _byes_last(pairs: list[Pair]) -> list[Pair]:
    return sorted(pairs, key=lambda pair: None in pair)


def swiss_round(ranked: Sequence[str], met: set[frozenset[str]],
                had_bye: set[str]) -> tuple[list[tuple[str, str]], str | None]:
    """The pairs of the next Swiss round, and who has the bye (or None).

    Args:
        ranked: the participants still playing, best first.
        met: the pairs that have met before.
        had_bye: who had a bye already.
    """
    players = list(ranked)
    bye = None
    if len(players) % 2:
        bye = next((name for name in reversed(players) if name not in had_bye), players[-1])
        players.remove(bye)
    steps = [SEARCH_STEPS]
    pairs = _pair(players, met, steps)
    if pairs is None:
        pairs = _pair(players, set(), [SEARCH_STEPS]) or []
    return pairs, bye


def _pair(players: list[str], met: set[frozenset[str]],
          steps: list[int]) -> list[tuple[str, str]] | None:
    """Pair ``players`` in rank order without rematches; None if not found in time."""
    if not players:
        return []
    first, rest = players[0], players[1:]
    for index, other in enumerate(rest):
        steps[0] -= 1
        if steps[0] < 0:
            return None
        if frozenset((first, other)) in met:
            continue
        tail = _pair(rest[:index] + rest[index + 1:], met, steps)
        if tail is not None:
            return [(first, other), *tail]
    return None
