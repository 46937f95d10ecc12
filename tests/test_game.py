"""The base class: its optional hooks and declarations."""

from __future__ import annotations

import pytest

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


class CallsSuper(AbstractGame):
    def __init__(self, players):
        super().__init__(players)  # what Python courses teach
        self.players = players

    def state(self, player_id):
        return super().state(player_id)


def test_super_init_is_harmless_and_other_base_methods_say_what_to_do() -> None:
    game = CallsSuper(2)
    assert game.players == 2
    with pytest.raises(NotImplementedError, match=r"write your own state\(\) in your game "
                                                  r"class, and do not call super\(\)\.state\(\)"):
        game.state(0)
    with pytest.raises(NotImplementedError, match=r"write your own min_players\(\)"):
        CallsSuper.min_players()
