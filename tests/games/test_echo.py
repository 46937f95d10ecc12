"""Rules of the Echo game, tested on the class directly."""

from gameserver.games.echo import Echo


def test_player_limits() -> None:
    assert (Echo.min_players(), Echo.max_players()) == (1, 1)


def test_initial_state_is_empty_message() -> None:
    game = Echo(1)
    assert game.state(0) == {"echo": ""}
    assert game.current_player() == [0]
    assert game.game_over() is False


def test_any_json_message_is_echoed() -> None:
    game = Echo(1)
    for msg in ("hello", 42, None, [1, "two"], {"a": [True]}):
        assert game.move({"msg": msg}, 0) is None
        assert game.state(0) == {"echo": msg}
        assert game.current_player() == [0]
        assert not game.game_over()


def test_other_keys_are_ignored() -> None:
    game = Echo(1)
    assert game.move({"msg": "hi", "extra": 1}, 0) is None
    assert game.state(0) == {"echo": "hi"}


def test_missing_msg_is_rejected_and_changes_nothing() -> None:
    game = Echo(1)
    game.move({"msg": "before"}, 0)
    error = game.move({"message": "typo"}, 0)
    assert isinstance(error, str) and "msg missing" in error
    assert game.state(0) == {"echo": "before"}


def test_error_is_stored_then_rejected() -> None:
    game = Echo(1)
    error = game.move({"msg": "error"}, 0)
    assert isinstance(error, str) and "on purpose" in error
    assert game.state(0) == {"echo": "error"}
    assert not game.game_over()
    assert game.move({"msg": "fine"}, 0) is None


def test_quit_ends_the_game() -> None:
    game = Echo(1)
    assert game.move({"msg": "quit"}, 0) is None
    assert game.game_over() is True
    assert game.current_player() == []
    assert game.state(0) == {"echo": "quit"}


def test_quit_must_be_the_exact_string() -> None:
    game = Echo(1)
    for msg in ("QUIT", " quit", ["quit"]):
        assert game.move({"msg": msg}, 0) is None
        assert not game.game_over()
