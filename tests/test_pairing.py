"""Round-robin schedules and Swiss pairings."""

from __future__ import annotations

import itertools

import pytest

from gameserver._pairing import round_robin, swiss_round


@pytest.mark.parametrize("count", [2, 3, 4, 5, 6, 7, 10])
def test_a_round_robin_pairs_everyone_with_everyone_exactly_once(count: int) -> None:
    names = [f"p{i}" for i in range(count)]
    rounds = round_robin(names)
    assert len(rounds) == (count - 1 if count % 2 == 0 else count)
    met = [frozenset(pair) for r in rounds for pair in r if None not in pair]
    assert sorted(met, key=sorted) == sorted(
        (frozenset(p) for p in itertools.combinations(names, 2)), key=sorted)
    for r in rounds:  # nobody twice in a round; with an odd count one bye, at the end
        seated = [n for pair in r for n in pair if n is not None]
        assert len(seated) == len(set(seated)) == count
        assert (None in r[-1]) == bool(count % 2)
    byes = [n for r in rounds for pair in r if None in pair for n in pair if n is not None]
    assert sorted(byes) == (sorted(names) if count % 2 else [])


def test_first_seats_in_a_round_robin_are_spread() -> None:
    rounds = round_robin([f"p{i}" for i in range(6)])
    firsts = [pair[0] for r in rounds for pair in r]
    assert max(firsts.count(f"p{i}") for i in range(6)) <= 4


def test_swiss_pairs_neighbours_in_the_standings_and_avoids_rematches() -> None:
    ranked = ["a", "b", "c", "d"]
    pairs, bye = swiss_round(ranked, set(), set())
    assert pairs == [("a", "b"), ("c", "d")] and bye is None
    pairs, _ = swiss_round(ranked, {frozenset("ab"), frozenset("cd")}, set())
    assert pairs == [("a", "c"), ("b", "d")]


def test_swiss_searches_further_when_the_greedy_choice_strands_someone() -> None:
    met = {frozenset("ab"), frozenset("cd"), frozenset("ac"), frozenset("bd")}
    pairs, _ = swiss_round(["a", "b", "c", "d"], met, set())
    assert {frozenset(p) for p in pairs} == {frozenset("ad"), frozenset("bc")}


def test_swiss_allows_a_rematch_only_when_nothing_else_is_left() -> None:
    pairs, _ = swiss_round(["a", "b"], {frozenset("ab")}, set())
    assert pairs == [("a", "b")]


def test_the_swiss_bye_goes_to_the_lowest_ranked_without_one() -> None:
    pairs, bye = swiss_round(["a", "b", "c"], set(), {"c"})
    assert bye == "b" and pairs == [("a", "c")]
    _, bye = swiss_round(["a", "b", "c"], set(), {"a", "b", "c"})
    assert bye == "c"
