"""End-to-end tests through real sockets: join, auto-join and observe."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from game_server_api import GameServerAPI, GameServerError
from tests.serverproc import ServerProcess, ServerThread
from tests.test_server import (
    GAMES_DIR,
    Call,
    all_blocked,
    ask,
    error,
    join_request,
    observe_request,
    observer_of,
    ok,
    seat_all,
    seat_from,
    token,
)
from tests.wire import request

JOIN_KEYS = {"player_id", "key", "session", "request_size_max"}


def fresh_server(make_server: Callable[..., ServerThread], **overrides: Any) -> ServerThread:
    """A server of its own, for tests that depend on lobby-wide state (auto-join)."""
    return make_server(games_dirs=[str(GAMES_DIR)], **overrides)


def join_in_order(port: int, game: str, session: str, players: int | None,
                  names: list[str]) -> list[dict[str, Any]]:
    """Join one client after the other, showing each earlier join still blocks.

    The first joiner passes ``players``; the others pass null. Returns the
    join data in join order.
    """
    calls: list[Call] = []
    for index, name in enumerate(names):
        assert all_blocked(calls), "a join returned before the session was full"
        calls.append(Call(port, join_request(game, session, players if index == 0 else None,
                                             name)))
    return [ok(call.reply()) for call in calls]


# ---------------------------------------------------------------- join


def test_join_blocks_until_full_then_all_get_replies(games_server: ServerThread) -> None:
    session = token()
    first, second = join_in_order(games_server.port, "TicTacToe", session, 2, ["", ""])
    for data in (first, second):
        assert set(data) == JOIN_KEYS
        assert data["session"] == session
        assert data["request_size_max"] == 1_000_000
        assert isinstance(data["key"], str) and len(data["key"]) >= 16
    assert (first["player_id"], second["player_id"]) == (0, 1)
    assert first["key"] != second["key"]


def test_player_ids_follow_join_order(games_server: ServerThread) -> None:
    joined = join_in_order(games_server.port, "Recorder", token(), 3, ["c", "a", "b"])
    assert [data["player_id"] for data in joined] == [0, 1, 2]
    assert len({data["key"] for data in joined}) == 3


def test_joined_players_can_play_with_their_keys(games_server: ServerThread) -> None:
    ann, bob = seat_all(games_server.port, "Recorder", 2)
    assert ok(ann.move(step=1)) is None
    assert ok(bob.move(step=2)) is None
    assert ok(ann.state())["log"] == [[0, {"step": 1}], [1, {"step": 2}]]


def test_name_already_in_use(games_server: ServerThread) -> None:
    port, session = games_server.port, token()
    ann = Call(port, join_request("Recorder", session, 2, "ann"))
    assert ann.blocked()
    message = error(ask(port, join_request("Recorder", session, None, "ann")))
    assert message == "framework: name already in use"
    bob = ok(ask(port, join_request("Recorder", session, None, "bob")))
    assert bob["player_id"] == 1
    assert ok(ann.reply())["player_id"] == 0


def test_empty_names_may_repeat(games_server: ServerThread) -> None:
    seats = seat_all(games_server.port, "Recorder", 3, names=["", "", ""])
    assert [seat.player_id for seat in seats] == [0, 1, 2]


def test_join_missing_session_without_players(games_server: ServerThread) -> None:
    message = error(ask(games_server.port, join_request("Recorder", token(), None)))
    assert message.startswith("framework: no such game session"), message
    assert "players" in message


def test_join_full_session_without_players(games_server: ServerThread) -> None:
    (seat,) = seat_all(games_server.port, "Echo", 1)
    reply = ask(games_server.port, join_request("Echo", seat.session, None, "late"))
    assert error(reply) == "framework: game session already full"
    assert ok(seat.state())["echo"] == ""  # the session is untouched


def test_join_full_session_with_players_overwrites_it(games_server: ServerThread) -> None:
    port = games_server.port
    old = seat_all(port, "Recorder", 2)
    session = old[0].session
    ok(old[1].state())
    waiting = old[1].state_call()
    assert waiting.blocked()

    new_first = Call(port, join_request("Recorder", session, 2, "new"))
    assert error(waiting.reply()) == "framework: game session was overwritten"
    assert new_first.blocked()
    new_second = ok(ask(port, join_request("Recorder", session, None)))
    new_first_data = ok(new_first.reply())
    assert (new_first_data["player_id"], new_second["player_id"]) == (0, 1)
    assert {new_first_data["key"], new_second["key"]}.isdisjoint({s.key for s in old})

    # The old keys mean nothing in the new session; the new one starts afresh.
    assert error(old[0].move(step=1)) == "framework: invalid key"
    new = seat_from(port, "Recorder", new_first_data)
    assert ok(new.state())["log"] == []


def test_a_game_whose_player_waits_is_not_idle_for_a_stranger_who_would_replace_it(
        make_server: Callable[..., ServerThread]) -> None:
    """The attack: two people play by hand (overwrite = "idle", as for the internet); one
    thinks, the other's client waits in state(). No request comes for overwrite_idle
    seconds, and a stranger who knew the session's name replaced the running game under
    both (the waiting one got 'overwritten', the thinker's move 'no such game session').
    A seat waiting in it keeps it in use; once nobody waits, the idle rule is as before."""
    server = fresh_server(make_server, overwrite="idle", overwrite_idle=0.1)
    port = server.port
    ann, bob = seat_all(port, "TicTacToe", 2)
    current = ok(ann.state())["current"]
    ok(bob.state())
    thinker, waiter = (ann, bob) if current == [ann.player_id] else (bob, ann)
    waiting = waiter.state_call()
    assert waiting.blocked()
    time.sleep(0.3)  # idle for longer than overwrite_idle (the thinker thinks)
    attempt = Call(port, join_request("TicTacToe", ann.session, 2, "stranger"))
    assert not attempt.blocked(), "the running game was replaced: the stranger waits in it"
    message = error(attempt.reply())
    assert "is in use" in message and "none of its players waits" in message
    assert waiting.blocked()
    assert ok(thinker.move(position=4)) is None
    assert ok(waiting.reply())["board"][4] == thinker.player_id

    # Nobody waits now: idle, the session may be replaced as before.
    time.sleep(0.3)
    stranger = Call(port, join_request("TicTacToe", ann.session, 2, "stranger"))
    assert stranger.blocked()  # the new session waits for its second player
    assert error(waiter.move(position=0)) == "framework: invalid key"  # replaced
    stranger.close()


def test_invalid_players_does_not_overwrite(games_server: ServerThread) -> None:
    seats = seat_all(games_server.port, "TicTacToe", 2)
    reply = ask(games_server.port, join_request("TicTacToe", seats[0].session, 3))
    assert error(reply).startswith("framework: invalid number of players"), reply
    assert ok(seats[1].state())["gameover"] is False


@pytest.mark.parametrize("game, players", [
    ("TicTacToe", 1), ("TicTacToe", 3), ("Echo", 0), ("Echo", 2), ("Recorder", -1),
    ("Recorder", 5), ("Chat", 101), ("NumberRace", 1), ("NumberRace", 5),
])
@pytest.mark.parametrize("auto", [False, True], ids=["named", "auto"])
def test_invalid_number_of_players(make_server: Callable[..., ServerThread], game: str,
                                   players: int, auto: bool) -> None:
    port = fresh_server(make_server).port
    session = "auto" if auto else token()
    message = error(ask(port, join_request(game, session, players)))
    assert message.startswith("framework: invalid number of players"), message


@pytest.mark.parametrize("request_data", [
    join_request("NoSuchGame", "x", 2),
    join_request("NoSuchGame", "auto", 2),
    join_request("tictactoe", "x", 2),
    {"type": "move", "game": "NoSuchGame", "session": "x", "player_id": 0, "key": "k",
     "move": {}},
    {"type": "state", "game": "NoSuchGame", "session": "x", "player_id": 0, "key": "k",
     "observer": False},
    observe_request("NoSuchGame", "x", "ann"),
    {"type": "restart", "game": "NoSuchGame", "session": "x", "player_id": 0, "key": "k"},
], ids=["join", "auto-join", "wrong-case", "move", "state", "observe", "restart"])
def test_unknown_game(games_server: ServerThread, request_data: dict[str, Any]) -> None:
    message = error(ask(games_server.port, request_data))
    assert message.startswith("framework: no such game"), message
    assert "session" not in message  # the game is checked before the session


def test_join_timeout_removes_the_session(make_server: Callable[..., ServerThread]) -> None:
    port = fresh_server(make_server, join_timeout=0.5).port
    session = token()
    calls = [Call(port, join_request("Recorder", session, 3, name)) for name in ("a", "b")]
    for call in calls:
        assert error(call.reply()) == "framework: timeout while waiting for others to join"
    message = error(ask(port, join_request("Recorder", session, None, "c")))
    assert message.startswith("framework: no such game session"), message


def test_join_timeout_does_not_hit_a_full_session(
        make_server: Callable[..., ServerThread]) -> None:
    port = fresh_server(make_server, join_timeout=0.5).port
    ann, bob = seat_all(port, "Recorder", 2)
    ok(bob.state())
    waiting = bob.state_call()
    assert waiting.blocked(1.0)  # well past the join timeout
    assert ok(ann.move(step=1)) is None
    assert ok(waiting.reply())["log"] == [[0, {"step": 1}]]


def test_join_timeout_closes_an_auto_session(
        make_server: Callable[..., ServerThread]) -> None:
    port = fresh_server(make_server, join_timeout=0.5).port
    reply = ask(port, join_request("Recorder", "auto", 2))
    assert error(reply) == "framework: timeout while waiting for others to join"
    message = error(ask(port, join_request("Recorder", "auto", None)))
    assert "players" in message, message  # no open auto session is left


def test_same_token_for_different_games_are_separate_sessions(
        games_server: ServerThread) -> None:
    session = token()
    (echo,) = seat_all(games_server.port, "Echo", 1, session=session)
    (recorder,) = seat_all(games_server.port, "Recorder", 1, session=session)
    assert echo.session == recorder.session == session
    assert ok(echo.move(msg="hi")) is None
    assert ok(recorder.move(step=1)) is None
    assert ok(echo.state()) == {"echo": "hi", "current": [0], "gameover": False}
    assert ok(recorder.state())["log"] == [[0, {"step": 1}]]
    # Keys do not cross over either.
    assert error(ask(echo.port, {**echo.request("state", observer=False),
                                 "game": "Recorder"})) == "framework: invalid key"


# ---------------------------------------------------------------- auto-join


def test_auto_join_pairs_clients_into_auto_sessions(
        make_server: Callable[..., ServerThread]) -> None:
    port = fresh_server(make_server).port
    first, second = join_in_order(port, "TicTacToe", "auto", 2, ["", ""])
    session = first["session"]
    assert session.startswith("auto-") and second["session"] == session
    assert (first["player_id"], second["player_id"]) == (0, 1)
    assert set(first) == JOIN_KEYS

    # The token from data.session is the one to use from then on.
    seats = [seat_from(port, "TicTacToe", data) for data in (first, second)]
    states = [ok(seat.state()) for seat in seats]
    assert states[0]["current"] == states[1]["current"]
    assert len(states[0]["current"]) == 1

    # A full auto session takes nobody else: the next two get a new one.
    third, fourth = join_in_order(port, "TicTacToe", "auto", 2, ["", ""])
    assert third["session"] == fourth["session"]
    assert third["session"].startswith("auto-") and third["session"] != session
    assert (third["player_id"], fourth["player_id"]) == (0, 1)


def test_auto_sessions_are_per_game(make_server: Callable[..., ServerThread]) -> None:
    port = fresh_server(make_server).port
    recorder = Call(port, join_request("Recorder", "auto", 2))
    assert recorder.blocked()
    (echo,) = seat_all(port, "Echo", 1, session="auto")
    assert echo.session.startswith("auto-")
    assert recorder.blocked()
    ok(ask(port, join_request("Recorder", "auto", None)))
    assert ok(recorder.reply())["player_id"] == 0


def test_auto_join_without_players_and_no_open_session(
        make_server: Callable[..., ServerThread]) -> None:
    port = fresh_server(make_server).port
    message = error(ask(port, join_request("TicTacToe", "auto", None)))
    assert message.startswith("framework: "), message
    assert "players" in message


@pytest.mark.parametrize("session", ["auto-1", "auto-2", "autox", "auto ", "automatic"])
def test_tokens_with_reserved_auto_prefix_are_rejected(
        make_server: Callable[..., ServerThread], session: str) -> None:
    port = fresh_server(make_server).port
    seat_all(port, "Echo", 1, session="auto")  # an auto-1 exists
    for players in (None, 1):
        message = error(ask(port, join_request("Echo", session, players)))
        assert message.startswith("framework: ") and "auto" in message, message


def test_auto_join_ignores_names(make_server: Callable[..., ServerThread]) -> None:
    port = fresh_server(make_server).port
    first = Call(port, join_request("Recorder", "auto", 2, "bob"))
    assert first.blocked()
    second = ok(ask(port, join_request("Recorder", "auto", None, "bob")))
    assert ok(first.reply())["session"] == second["session"]
    for session in ("auto", second["session"]):
        message = error(ask(port, observe_request("Recorder", session, "bob")))
        assert message == "framework: observer mode not available for auto-join sessions"
    # Ignored, so not checked either: a name over max_name_length was refused here.
    assert ok(ask(port, join_request("Echo", "auto", 1, "x" * 1_000)))["player_id"] == 0
    assert "player name too long" in error(ask(port, join_request("Echo", "s", 1, "x" * 101)))


@pytest.mark.parametrize("sync", ["normal", "full"])  # commits on the loop, in the writer
def test_a_session_name_that_is_not_text_is_refused_and_the_store_saves_on(
        make_server: Callable[..., ServerThread], tmp_path: Path, sync: str) -> None:
    """A name with a lone surrogate (the JSON escape \\ud800) cannot be written as UTF-8.
    It was started, and its save raised out of the commit: the joiner never got a reply,
    the transaction stayed open, and the next commit (everyone's) failed."""
    server = make_server(store=True, store_path=str(tmp_path / "s.db"), store_sync=sync)
    other = Call(server.port, join_request("TicTacToe", "other", 2))
    assert other.blocked()
    message = error(ask(server.port, join_request("Echo", "bad\ud800", 1)))
    assert message == ("framework: session name is not valid text: it holds a lone surrogate "
                       "('\\ud800' at position 3); pick another session name")
    assert ok(ask(server.port, join_request("TicTacToe", "other")))["player_id"] == 1
    assert ok(other.reply())["player_id"] == 0
    seat = seat_all(server.port, "Echo", 1, session="fine")[0]
    assert ok(seat.move(msg="\ud800")) is None  # a move may hold one: saved as JSON
    assert ok(seat.state())["echo"] == "\ud800"


def test_a_name_that_turns_the_text_after_it_around_is_refused(
        games_server: ServerThread) -> None:
    """A stranger named "\\u202eecila" (shown as "alice") turned the rest of the
    dashboard's players cell around: "(2/2) bob ,alice" for "alice, bob (2/2)", and so
    every other place a name stands beside others (the play page's "Waiting for ...")."""
    port = games_server.port
    message = error(ask(port, join_request("TicTacToe", token(), 2, "\u202eecila")))
    assert message == ("framework: player name holds the control character U+202E (at "
                       "position 0), which turns the text shown after it around (other "
                       "players' names on the dashboard); pick another player name")
    message = error(ask(port, join_request("Echo", "game\u2067", 1, "ann")))
    assert message.startswith("framework: session name holds the control character U+2067 "
                              "(at position 4)")
    # A name in a right-to-left script, with the marks such names may carry, is welcome.
    hebrew = "\u05d3\u05e0\u05d4\u200f"
    assert ok(ask(port, join_request("Echo", token(), 1, hebrew)))["player_id"] == 0


def test_a_name_that_looks_like_another_players_in_the_session_is_refused(
        games_server: ServerThread) -> None:
    """Until 2026-12-01 "alice\\u200b" (a zero-width space) or a full-width
    "alice" could sit beside "alice": on the dashboard, in the discovery listing and
    in the history nobody could tell which was the real one."""
    port, session = games_server.port, token()
    alice = Call(port, join_request("Recorder", session, 4, "alice"))
    assert alice.blocked()
    for name in ("alice\u200b", "\uff41lice", "alice ", "al\u00adice", "ali\u2060ce"):
        message = error(ask(port, join_request("Recorder", session, None, name)))
        assert message.startswith("framework: name already in use: it looks like the name "
                                  "of a player here"), name
    assert error(ask(port, join_request("Recorder", session, None, "alice"))) == (
        "framework: name already in use")  # the classic refusal, unchanged
    # A name that shows nothing would pass for a player without one (and two such names
    # for each other): refused, but "" (no name) and a name of ASCII spaces as before.
    for name in ("\u3164", "\u200b\u200d", "\u115f ", "\u2800"):
        message = error(ask(port, join_request("Recorder", session, None, name)))
        assert message.startswith(f"framework: player name {name!a} shows nothing"), name
    # Names that look different (case counts, as PROTOCOL.md has it), and players
    # without a name, are welcome as before.
    bob = Call(port, join_request("Recorder", session, None, "bob"))
    assert bob.blocked()
    upper = Call(port, join_request("Recorder", session, None, "Alice"))
    assert upper.blocked()
    assert ok(ask(port, join_request("Recorder", session, None, "")))["player_id"] == 3
    assert ok(alice.reply())["player_id"] == 0 and ok(bob.reply())["player_id"] == 1
    assert ok(upper.reply())["player_id"] == 2
    # Names of ASCII spaces show nothing, as "" does: taken beside each other, as before.
    spaces = token()
    first = Call(port, join_request("Recorder", spaces, 2, " "))
    assert first.blocked()
    assert ok(ask(port, join_request("Recorder", spaces, None, "  ")))["player_id"] == 1
    assert ok(first.reply())["player_id"] == 0


# ---------------------------------------------------------------- observe


def test_a_stranger_watching_a_player_takes_no_change_from_the_players_own_watcher(
        games_server: ServerThread) -> None:
    """All observers of a player share one view (PROTOCOL.md). Until 2026-12-01, of two
    observers waiting on it, only the first to ask again got a change: the other waited
    for the next, and for the game's end until game_timeout. Any stranger observing
    "ann" (no secret needed) so took her own display's final state away."""
    port = games_server.port
    ann, = seat_all(port, "Echo", 1, ["ann"])
    ok(ann.state())
    mine, stranger = observer_of(ann), observer_of(ann)
    ok(mine.state())
    for message in ("hello", "quit"):
        calls = [mine.state_call(), stranger.state_call(), stranger.state_call()]
        assert all_blocked(calls)
        ok(ann.move(msg=message))
        assert [ok(call.reply())["echo"] for call in calls] == [message] * 3


def test_observe_only_after_the_session_is_full(games_server: ServerThread) -> None:
    port, session = games_server.port, token()
    ann = Call(port, join_request("Recorder", session, 2, "ann"))
    assert ann.blocked()
    message = error(ask(port, observe_request("Recorder", session, "ann")))
    assert message == "framework: game has not yet started"
    ok(ask(port, join_request("Recorder", session, None, "bob")))
    ann_data = ok(ann.reply())
    data = ok(ask(port, observe_request("Recorder", session, "ann")))
    assert set(data) == {"player_id", "key"}
    assert data["player_id"] == 0
    assert data["key"] != ann_data["key"]


@pytest.mark.parametrize("name", ["carl", "", "Ann", "ann "])
def test_observe_needs_a_named_player(games_server: ServerThread, name: str) -> None:
    ann, _ = seat_all(games_server.port, "Recorder", 2, names=["ann", ""])
    reply = ask(games_server.port, observe_request("Recorder", ann.session, name))
    assert error(reply) == "framework: no such player"


def test_observe_missing_session(games_server: ServerThread) -> None:
    message = error(ask(games_server.port, observe_request("Recorder", token(), "ann")))
    assert message.startswith("framework: no such game session"), message


def test_observer_gets_exactly_what_the_player_gets(games_server: ServerThread) -> None:
    ann, bob = seat_all(games_server.port, "Recorder", 2, names=["ann", "bob"])
    watchers = [observer_of(ann), observer_of(bob)]

    def check_views() -> None:
        states = [ok(player.state()) for player in (ann, bob)]
        assert [ok(watcher.state()) for watcher in watchers] == states
        assert states[0] != states[1]  # each player's view is its own

    check_views()
    assert ok(ann.move(step=1)) is None
    assert bob.move(reject="no")["status"] == "illegalmove"
    check_views()


def test_observer_key_is_read_only(games_server: ServerThread) -> None:
    ann, bob = seat_all(games_server.port, "Recorder", 2, names=["ann", "bob"])
    watcher = observer_of(ann)
    as_player = seat_from(ann.port, ann.game, {"session": ann.session, "player_id": 0,
                                               "key": watcher.key})
    for reply in (as_player.move(step=1), as_player.restart(), as_player.state()):
        assert "invalid key" in error(reply), reply
    # The player's own key is no observer key, nor is another player's observer key.
    ann.observer = True
    assert error(ann.state()) == "framework: invalid key"
    wrong_player = seat_from(bob.port, bob.game, {"session": bob.session, "player_id": 1,
                                                  "key": watcher.key})
    wrong_player.observer = True
    assert error(wrong_player.state()) == "framework: invalid key"
    # Nothing reached the game, and the observer key works where it should.
    assert ok(watcher.state())["log"] == []


def wait_for_open_sessions(port: int, game: str, count: int, within: float = 10.0) -> None:
    """Ask discovery until ``count`` sessions of ``game`` wait for players (bounded)."""
    deadline = time.monotonic() + within
    while True:
        sessions = ok(ask(port, {"type": "discover"}))["sessions"]
        if len([s for s in sessions if s["game"] == game]) == count:
            return
        assert time.monotonic() < deadline, f"open sessions stayed {sessions}"
        time.sleep(0.01)


def play_tictactoe_to_the_end(port: int, joined: list[dict[str, Any]]) -> dict[str, Any]:
    seats = {data["player_id"]: seat_from(port, "TicTacToe", data) for data in joined}
    state = ok(seats[0].state())
    ok(seats[1].state())
    while not state["gameover"]:
        mover = seats[state["current"][0]]
        assert ok(mover.move(position=state["board"].index(-1))) is None
        state = ok(mover.state())
    return state


@pytest.mark.parametrize("session", ["auto", "ghost-table"])
def test_a_client_that_gives_up_while_joining_leaves_no_ghost_seat(
        make_server: Callable[..., ServerThread], session: str) -> None:
    port = fresh_server(make_server).port
    ghost = Call(port, join_request("TicTacToe", session, 2))
    wait_for_open_sessions(port, "TicTacToe", 1)
    ghost.close()  # Ctrl-C at "waiting for an opponent"
    wait_for_open_sessions(port, "TicTacToe", 0)
    joined = join_in_order(port, "TicTacToe", session, 2, ["", ""])
    assert sorted(data["player_id"] for data in joined) == [0, 1]
    assert play_tictactoe_to_the_end(port, joined)["gameover"] is True


# ---------------------------------------------------------------- games that failed to load

MIXED = Path(__file__).parent / "data" / "mixed_games"


def game_source(name: str, base: str = "(AbstractGame)") -> str:
    """A game file that works (tests/data/mixed_games/good_modern.py), its class renamed."""
    return (MIXED / "good_modern.py").read_text().replace(
        "class Counter(AbstractGame):", f"class {name}{base}:")


def broken_games_folder(folder: Path) -> Path:
    """A games folder with one file that works and one of each way a file fails to load."""
    folder.mkdir()
    (folder / "syntax_bad.py").write_text(game_source("SyntaxBad").replace("):", ")", 1))
    (folder / "import_bad.py").write_text("import no_such_module_xyz\n"
                                          + game_source("ImportBad"))
    # What an exception at import says may be a secret (a path, a password in a config).
    (folder / "raises_bad.py").write_text("SETTINGS = {}['password hunter2']\n"
                                          + game_source("RaisesBad"))
    (folder / "forgot_base.py").write_text(game_source("ForgotBase", base=""))
    # A file that offers a game, with a game class skipped (no move) and a helper class.
    (folder / "pair.py").write_text(game_source("Works") + "\n\n"
                                    + (MIXED / "no_move.py").read_text().split("\n", 1)[1]
                                    + "\n\nclass Board:\n    pass\n")
    return folder


@pytest.mark.parametrize("isolate", ["folder", "off"])
def test_a_game_whose_file_failed_to_load_is_named_as_such(tmp_path: Path,
                                                           isolate: str) -> None:
    """A student whose game file failed to load got "no such game", as for a misspelt
    name: nothing said that the game was there but broken, nor where to look. Now the
    reply says where (not why, nor which file: any client reads it, and a student's name
    may be in the file's name); a name of no game file gets the classic reply unchanged."""
    folder = broken_games_folder(tmp_path / "games")
    with ServerProcess("--games-dir", str(folder), "--isolate-games", isolate,
                       "--no-bundled-games") as server:
        def message(game: str) -> str:
            return error(request(server.port, join_request(game, "s", 1)))

        assert message("Nope") == "framework: no such game: 'Nope' (available: Works)"
        assert message("Board") == "framework: no such game: 'Board' (available: Works)"
        assert message("Pair") == "framework: no such game: 'Pair' (available: Works)"
        where = (": the file's author finds why in the server's log, in the section 'Game "
                 "code' of the dashboard's lobby page, or by running python3 -m gameserver "
                 "check on that file")
        letter = "; a game's name is its class's name, letter for letter"
        near = f"{letter}, and "
        for game, hint, name in [
                ("SyntaxBad", "; ", "SyntaxBad"), ("syntax_bad", near, "SyntaxBad"),
                ("ImportBad", "; ", "ImportBad"), ("RaisesBad", "; ", "RaisesBad"),
                ("ForgotBase", "; ", "ForgotBase"), ("forgotbase", near, "ForgotBase")]:
            assert message(game) == (
                f"framework: no such game: '{game}' (available: Works){hint}a game file of "
                f"the server's games folder defines a class '{name}', but the server could "
                "not load any game from that file" + where)
        assert message("NoMove") == (
            "framework: no such game: 'NoMove' (available: Works); a game file of the "
            "server's games folder defines a game class 'NoMove', but the server skipped "
            "that class (it loaded the file's other games)" + where)
        assert message("works") == ("framework: no such game: 'works' (available: Works)"
                                    f"{letter}: did you mean 'Works'?")
        # Every request that names a game says so, and the client module shows it whole.
        state = {"type": "state", "game": "RaisesBad", "session": "s", "player_id": 0,
                 "key": "k", "observer": False}
        assert "class 'RaisesBad', but the server could not" in error(request(server.port, state))
        with pytest.raises(GameServerError, match="check on that file$"):
            GameServerAPI("127.0.0.1", server.port, "RaisesBad", players=1).join()
        assert "raises_bad.py" not in message("RaisesBad")
    assert "hunter2" in server.log  # the server's log says why; the replies never did


def test_a_game_the_settings_leave_out_is_no_game_that_failed(tmp_path: Path) -> None:
    """``--game`` offers some of the games that loaded: the others did not fail."""
    folder = broken_games_folder(tmp_path / "games")
    with ServerProcess("--games-dir", str(folder), "--game", "Echo") as server:
        reply = request(server.port, join_request("Works", "s", 1))
    assert error(reply) == "framework: no such game: 'Works' (available: Echo)"
