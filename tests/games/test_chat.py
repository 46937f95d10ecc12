"""Rules of the Chat game, tested on the class directly."""

import pytest

from gameserver import protocol
from gameserver.games import chat
from gameserver.games.chat import Chat
from gameserver.web._http import STREAM_BUFFER_MAX


def named_chat(*names: str) -> Chat:
    """A chat with one player per name, each already named."""
    game = Chat(len(names))
    for pid, name in enumerate(names):
        assert game.move({"name": name}, pid) is None
    return game


def test_player_limits() -> None:
    assert (Chat.min_players(), Chat.max_players()) == (1, 100)


@pytest.mark.parametrize("players", [1, 3, 100])
def test_everyone_is_always_current(players: int) -> None:
    game = Chat(players)
    assert game.current_player() == list(range(players))
    game.move({"name": "a"}, 0)
    game.move({"message": "hi"}, 0)
    assert game.current_player() == list(range(players))


def test_never_over() -> None:
    game = named_chat("a")
    assert not game.game_over()
    game.move({"message": "quit"}, 0)
    assert not game.game_over()


def test_initial_state() -> None:
    assert Chat(2).state(0) == {"messages": []}


def test_messages_are_posted_under_the_senders_name_in_order() -> None:
    game = named_chat("Ada", "Bob")
    assert game.move({"message": "hi"}, 0) is None
    assert game.move({"message": "hello Ada"}, 1) is None
    expected = {"messages": [["Ada", "hi"], ["Bob", "hello Ada"]]}
    assert game.state(0) == expected
    assert game.state(1) == expected


def test_name_and_message_are_stripped() -> None:
    game = Chat(1)
    assert game.move({"name": "  Ada \n"}, 0) is None
    assert game.move({"message": "  hi  "}, 0) is None
    assert game.state(0) == {"messages": [["Ada", "hi"]]}


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_blank_messages_are_accepted_but_not_posted(blank: str) -> None:
    game = named_chat("Ada")
    assert game.move({"message": blank}, 0) is None
    assert game.state(0) == {"messages": []}


def test_name_can_be_changed_and_old_messages_keep_the_old_name() -> None:
    game = named_chat("Ada")
    game.move({"message": "one"}, 0)
    assert game.move({"name": "Grace"}, 0) is None
    game.move({"message": "two"}, 0)
    assert game.state(0) == {"messages": [["Ada", "one"], ["Grace", "two"]]}


def test_own_name_may_be_sent_again() -> None:
    game = named_chat("Ada")
    assert game.move({"name": "Ada"}, 0) is None


def test_name_and_message_in_one_move() -> None:
    game = Chat(1)
    assert game.move({"name": "Ada", "message": "hi"}, 0) is None
    assert game.state(0) == {"messages": [["Ada", "hi"]]}


def test_taken_name_is_rejected_even_with_spaces() -> None:
    game = named_chat("Ada", "Bob")
    error = game.move({"name": " Ada "}, 1)
    assert isinstance(error, str) and "already taken" in error
    game.move({"message": "still Bob"}, 1)
    assert game.state(1) == {"messages": [["Bob", "still Bob"]]}


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_name_is_rejected(name: str) -> None:
    game = Chat(1)
    error = game.move({"name": name}, 0)
    assert isinstance(error, str) and "must not be empty" in error
    assert "set your name first" in game.move({"message": "hi"}, 0)


def test_message_before_name_is_rejected() -> None:
    game = Chat(2)
    error = game.move({"message": "hi"}, 0)
    assert isinstance(error, str) and "set your name first" in error
    assert game.state(0) == {"messages": []}


@pytest.mark.parametrize("move, expected", [
    ({}, "send move(name="),
    ({"text": "hi"}, "send move(name="),
    ({"name": 5}, "name must be text"),
    ({"name": None}, "name must be text"),
    ({"name": ["Ada"]}, "name must be text"),
    ({"message": 5}, "message must be text"),
    ({"message": ["hi"]}, "message must be text"),
])
def test_bad_moves_are_rejected(move: dict, expected: str) -> None:
    game = named_chat("Ada")
    error = game.move(move, 0)
    assert isinstance(error, str) and expected in error
    assert game.state(0) == {"messages": []}


def test_rejected_combined_move_changes_nothing() -> None:
    game = named_chat("Ada", "Bob")
    # Valid name with an invalid message: the name must not change.
    assert "message must be text" in game.move({"name": "Eve", "message": 1}, 0)
    # Taken name with a valid message: the message must not be posted.
    assert "already taken" in game.move({"name": "Bob", "message": "hi"}, 0)
    game.move({"message": "check"}, 0)
    assert game.state(0) == {"messages": [["Ada", "check"]]}


def test_state_is_a_copy() -> None:
    game = named_chat("Ada")
    game.move({"message": "hi"}, 0)
    game.state(0)["messages"][0][1] = "changed"
    assert game.state(0) == {"messages": [["Ada", "hi"]]}


def test_a_chat_keeps_only_its_newest_messages() -> None:
    """A chat that goes on for days must not grow the server without bound."""
    game = named_chat("ann")
    for n in range(chat.KEPT_MESSAGES + 5):
        assert game.move({"message": f"m{n}"}, 0) is None
    messages = game.state(0)["messages"]
    assert len(messages) == chat.KEPT_MESSAGES and messages[-1] == ["ann", f"m{n}"]
    big = "x" * (chat.KEPT_CHARACTERS // 2 + 1)
    game.move({"message": big}, 0)
    game.move({"message": big}, 0)
    assert [m for _, m in game.state(0)["messages"]] == [big]  # the newest still shown


def test_a_name_has_at_most_100_characters() -> None:
    game = Chat(1)
    assert "name too long" in game.move({"name": "n" * (chat.NAME_MAX + 1)}, 0)
    assert game.move({"name": "n" * chat.NAME_MAX}, 0) is None


@pytest.mark.parametrize("message", ["😀" * (chat.KEPT_CHARACTERS // 12), "a"])
def test_a_hostile_chatter_cannot_make_the_state_larger_than_a_browser_takes(
        message: str) -> None:
    """Counted in characters, 250,000 emoji were 3 MB as sent, and a name of a megabyte
    went into every message: a browser's stream (512 KiB) could no longer carry the
    chat, and the server built states of hundreds of megabytes."""
    game = named_chat("😀" * chat.NAME_MAX)
    for _ in range(chat.KEPT_MESSAGES + 5):
        assert game.move({"message": message}, 0) is None
    assert len(protocol.ok(game.state(0))) < STREAM_BUFFER_MAX
    too_long = "😀" * (chat.KEPT_CHARACTERS // 12 + 1)
    assert "message too long" in game.move({"message": too_long}, 0)
