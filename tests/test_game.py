"""The base class: its optional hooks and declarations."""

from __future__ import annotations

from gameserver.game import AbstractGame, has_hidden_information
from gameserver.games import Battleship, TicTacToe, Yahtzee


class DeclaresSecrets(AbstractGame):
    hidden_information = True


def test_hidden_information_comes_from_private_data() -> None:
    assert has_hidden_information(Battleship)
    assert not has_hidden_information(TicTacToe)
    assert not has_hidden_information(Yahtzee)
    assert has_hidden_information(None)  # a game no longer offered: play safe


def test_a_game_may_declare_hidden_information_without_private_data() -> None:
    assert has_hidden_information(DeclaresSecrets)
