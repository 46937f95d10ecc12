"""The session's rules with plain calls: no sockets, no event loop, no sleeping."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from gameserver import protocol
from gameserver.checked import GameType
from gameserver.games import Echo, TicTacToe
from gameserver.guard import GameCodeError, GameGuard
from gameserver.protocol import ProtocolError, framework_error
from gameserver.session import Session
from gameserver.waits import Wait
from tests.data.checked_games.plain import Greedy


@pytest.fixture
def guard() -> Iterator[GameGuard]:
    # No test here is about the time limit; 2 s was once passed by a plain TicTacToe call
    # in a full suite under heavy load, and the interrupt landed in a collector's callback
    # (reported as an unraisable exception).
    guard = GameGuard(time_limit=60)
    yield guard
    guard.close()


def reply(outcome: Any) -> dict[str, Any]:
    assert isinstance(outcome, bytes), f"expected a reply, got {outcome!r}"
    return json.loads(outcome)


def data(outcome: Any) -> Any:
    answer = reply(outcome)
    assert answer["status"] == "ok", answer
    return answer["data"]


def full_session(guard: GameGuard, game: type = Echo, players: int = 1,
                 names: tuple[str, ...] = ("p",)) -> Session:
    session = Session(GameType(game.__name__, game, guard), "t", players)
    for name in names[:players] + ("",) * (players - len(names)):
        session.add_player(name)
    return session


def key(session: Session, player_id: int = 0) -> str:
    return session.players[player_id].key


# ---------------------------------------------------------------- joining


def test_joiners_wait_until_the_session_is_full_and_get_ids_in_join_order(
        guard: GameGuard) -> None:
    session = Session(GameType("TicTacToe", TicTacToe, guard), "t", 2)
    ann = session.add_player("ann")
    waiting = session.join_reply(ann, 1000)
    assert isinstance(waiting, Wait) and not waiting.woken
    bob = session.add_player("bob")
    assert waiting.woken  # the session is full
    assert data(waiting.resume())["player_id"] == 0
    assert data(session.join_reply(bob, 1000))["player_id"] == 1


def test_a_joiner_who_leaves_gives_the_seat_back(guard: GameGuard) -> None:
    session = Session(GameType("TicTacToe", TicTacToe, guard), "t", 3)
    ghost, ann = session.add_player("ghost"), session.add_player("ann")
    ghost_wait, ann_wait = session.join_reply(ghost, 1000), session.join_reply(ann, 1000)
    assert isinstance(ghost_wait, Wait) and isinstance(ann_wait, Wait)
    ghost_wait.cancel()  # the ghost's client hung up
    assert [p.name for p in session.players] == ["ann"]
    assert session.waiting == 1
    bob = session.add_player("ghost")  # the name is free again, and so is the seat
    cid = session.add_player("cid")
    assert [data(session.join_reply(p, 1000))["player_id"] for p in (ann, bob, cid)] == [0, 1, 2]


def test_when_every_joiner_left_the_session_says_so(guard: GameGuard) -> None:
    session = Session(GameType("TicTacToe", TicTacToe, guard), "t", 2)
    abandoned: list[Session] = []
    session.when_abandoned = abandoned.append
    wait = session.join_reply(session.add_player(""), 1000)
    assert isinstance(wait, Wait)
    wait.cancel()
    assert abandoned == [session] and session.players == []


def test_a_seat_is_kept_once_the_session_is_full(guard: GameGuard) -> None:
    session = full_session(guard, TicTacToe, 2)
    waits = [session._wait(lambda: b"") for _ in range(2)]
    waits[0].cancel()
    assert len(session.players) == 2


class Crowd(Echo):
    """Echo for "any number" of players, as a student may write it."""

    @staticmethod
    def min_players() -> int:
        return 1

    @staticmethod
    def max_players() -> int:
        return 10**9


def test_a_session_waiting_for_a_crowd_holds_what_its_seats_taken_need(
        guard: GameGuard) -> None:
    """Anyone may start a session of up to the game's ``max_players``: until that many
    have joined, it holds per seat taken, not per seat asked (it held 16 bytes a seat
    asked from the first join: 16 MB here, 1.6 GB for a join of 10**8, and one address
    may have ten such joins waiting)."""
    game_type = GameType("Crowd", Crowd, guard)
    tracemalloc.start()
    try:
        session = Session(game_type, "t", 10**6)
        waiting = session.join_reply(session.add_player("first"), 1000)
        held = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(waiting, Wait) and not waiting.woken
    assert held < 100_000  # (was 16 MB: two entries for each of the million seats)
    session = Session(game_type, "t", 3)  # and it plays as before once full
    waits = [session.join_reply(session.add_player(""), 1000) for _ in range(3)]
    assert all(isinstance(w, bytes) or w.woken for w in waits)
    assert data(session.move(0, key(session), {"msg": "hi"})) is None
    assert data(session.state(1, key(session, 1), False))["echo"] == "hi"


def test_names_are_unique_within_a_session(guard: GameGuard) -> None:
    session = Session(GameType("TicTacToe", TicTacToe, guard), "t", 2)
    session.add_player("ann")
    with pytest.raises(ProtocolError, match="name already in use"):
        session.add_player("ann")


# ---------------------------------------------------------------- state and move


def test_state_answers_at_once_then_waits_for_a_change(guard: GameGuard) -> None:
    session = full_session(guard)
    assert data(session.state(0, key(session), False)) == {
        "echo": "", "current": [0], "gameover": False}
    waiting = session.state(0, key(session), False)
    assert isinstance(waiting, Wait) and not waiting.woken
    assert data(session.move(0, key(session), {"msg": "hi"})) is None
    assert waiting.woken
    assert data(waiting.resume())["echo"] == "hi"


def test_each_view_sees_each_change_once(guard: GameGuard) -> None:
    session = full_session(guard)
    session.observe("p")
    watcher = session.players[0].observer_key
    assert watcher is not None
    data(session.state(0, key(session), False))
    data(session.state(0, watcher, True))  # the observer view counts apart
    assert isinstance(session.state(0, watcher, True), Wait)


def test_moves_are_checked_in_protocol_order(guard: GameGuard) -> None:
    session = full_session(guard, TicTacToe, 2)
    mover = session.game.current()[0]
    other = 1 - mover
    with pytest.raises(ProtocolError, match="invalid key"):
        session.move(mover, "wrong", {"position": 0})
    with pytest.raises(ProtocolError, match="not your turn"):
        session.move(other, key(session, other), {"position": 0})
    assert reply(session.move(mover, key(session, mover), {"position": 9}))["status"] == \
        "illegalmove"
    assert session.moves == 1 and session.accepted_moves == 0


def test_an_id_outside_the_seats_is_an_invalid_key_never_another_views_state(
        guard: GameGuard) -> None:
    """The per-view tables are lists at ``player * 2 + observer``: there an id of -1 is
    the last player's observer view, and 2 is past the end. Every request refuses such
    an id before it reads them, even with the last player's real keys, and marks no
    view as having seen anything."""
    session = full_session(guard, TicTacToe, 2)
    last = 1
    data(session.observer_code(last, key(session, last)))
    keys = (key(session, last), session.players[last].observer_key or "")
    requests = (
        lambda p, k: session.state(p, k, False),
        lambda p, k: session.state(p, k, True),
        lambda p, k: session.state(p, k, True, legal_moves=True, timer=True),
        lambda p, k: session.feed(p, k, True),
        lambda p, k: session.move(p, k, {"position": 0}, with_state=True, legal_moves=True),
        lambda p, k: session.restart(p, k),
        lambda p, k: session.observer_code(p, k))
    for player_id in (-1, -2, -3, 2, 3, 10**20, -10**20):
        for request in requests:
            for view_key in keys:
                with pytest.raises(ProtocolError, match="^framework: invalid key"):
                    request(player_id, view_key)
    assert session.waiting == 0 and session.moves == 0 and session.version == 0
    # Nothing was shown to any view: each one's first state still answers at once.
    observer_key = keys[1]
    assert data(session.state(last, key(session, last), False))["current"]
    assert data(session.state(last, observer_key, True))["board"] == [-1] * 9
    # A session still filling has fewer players than seats: an empty seat is no view.
    filling = Session(GameType("TicTacToe", TicTacToe, guard), "f", 2)
    filling.add_player("")
    for player_id in (1, -1):
        with pytest.raises(ProtocolError, match="^framework: invalid key"):
            filling.state(player_id, key(filling), False)


def test_an_observer_key_cannot_move(guard: GameGuard) -> None:
    session = full_session(guard)
    observer = data(session.observe("p"))["key"]
    with pytest.raises(ProtocolError, match="observer key only works for state"):
        session.move(0, observer, {"msg": "x"})


def test_a_closed_session_answers_every_waiter_and_request_with_its_reason(
        guard: GameGuard) -> None:
    session = full_session(guard)
    data(session.state(0, key(session), False))
    waiting = session.state(0, key(session), False)
    assert isinstance(waiting, Wait)
    session.close(framework_error("game session was overwritten"))
    assert waiting.woken
    assert reply(waiting.resume())["message"] == "framework: game session was overwritten"


def test_a_cancelled_wait_is_forgotten_at_once(guard: GameGuard) -> None:
    session = full_session(guard)
    data(session.state(0, key(session), False))
    waiting = session.state(0, key(session), False)
    assert isinstance(waiting, Wait) and session.waiting == 1
    waiting.cancel()
    assert session.waiting == 0


def test_two_waits_on_one_view_are_each_woken_and_cancelled_alone(guard: GameGuard) -> None:
    """A view usually has one wait (kept alone); a second one (a state and a push of the
    same player, an observer in two tabs) makes them a set."""
    session = full_session(guard)
    watcher = data(session.observe("p"))["key"]
    data(session.state(0, watcher, True))
    first, second, third = (session.state(0, watcher, True) for _ in range(3))
    assert all(isinstance(wait, Wait) for wait in (first, second, third))
    assert session.waiting == 3
    second.cancel()
    assert session.waiting == 2
    assert data(session.move(0, key(session), {"msg": "hi"})) is None
    assert first.woken and third.woken and not second.woken
    assert session.waiting == 0
    assert data(first.resume())["echo"] == "hi"
    # Each gets the change it waited for (until 2026-12-01 the first to ask took it, and
    # the other waited for the next one); a new request waits for the next one.
    assert data(third.resume())["echo"] == "hi"
    again = session.state(0, watcher, True)
    assert isinstance(again, Wait) and session.waiting == 1
    again.cancel()
    assert session.waiting == 0


def test_the_four_views_of_two_players_wait_and_wake_apart(guard: GameGuard) -> None:
    """Each player and each player's observers are a view of their own: a move wakes the
    views that have not seen it, and cancelling one view's wait leaves the others."""
    session = full_session(guard, TicTacToe, 2)
    mover = session.game.current()[0]
    other = 1 - mover
    observers = [session.observer_code(p, key(session, p)) for p in (0, 1)]
    keys = {(p, False): key(session, p) for p in (0, 1)}
    keys.update({(p, True): data(observers[p])["code"] for p in (0, 1)})
    for (p, observer), view_key in keys.items():
        data(session.state(p, view_key, observer))
    waits = {view: session.state(view[0], view_key, view[1])
             for view, view_key in keys.items()}
    assert all(isinstance(wait, Wait) for wait in waits.values()) and session.waiting == 4
    waits[(other, True)].cancel()
    assert session.waiting == 3
    moved = session.move(mover, key(session, mover), {"position": 4}, with_state=True)
    assert reply(moved)["state"]["board"][4] == mover
    assert not waits[(mover, False)].woken  # the mover's reply showed it the move
    assert waits[(mover, True)].woken and waits[(other, False)].woken
    assert not waits[(other, True)].woken  # cancelled: nobody waits there
    assert session.waiting == 1
    assert data(waits[(other, False)].resume())["board"][4] == mover
    assert data(waits[(mover, True)].resume())["board"][4] == mover


def restarted_while_saving(guard: GameGuard) -> tuple[Session, Recorder, Batch]:
    """A TicTacToe session played to the end and restarted by player 0, saved; the
    changes from now on join the open batch (the test finishes it)."""
    recorder = Recorder()
    session = Session(GameType("TicTacToe", TicTacToe, guard), "t", 2, recorder=recorder)
    session.add_player("")
    session.add_player("")
    recorder.batch.finish()
    play_to_the_end(session)
    data(session.restart(0, key(session)))
    recorder.batch = saving = Batch()
    return session, recorder, saving


def test_a_waiting_view_owed_the_hand_over_again_is_woken(guard: GameGuard) -> None:
    """The hand-over's save failed: its view is owed it again, and a state of that view
    waiting meanwhile is woken to collect it."""
    session, recorder, saving = restarted_while_saving(guard)
    handed_over = session.state(1, key(session, 1), False)  # the end, once saved
    new_game = session.state(1, key(session, 1), False)  # the new game, once saved
    waiting = session.state(1, key(session, 1), False)  # nothing new: waits
    assert all(isinstance(wait, Wait) for wait in (handed_over, new_game, waiting))
    assert not waiting.woken
    saving.finish("server: could not save")
    recorder.batch = Batch()  # the next one, which saves that the view is owed again
    assert reply(handed_over.resume())["message"] == "server: could not save"
    assert waiting.woken  # owed the hand-over again
    assert reply(new_game.resume())["message"] == "server: could not save"
    recorder.batch.finish()
    assert data(waiting.resume())["gameover"] is True


def test_a_hand_over_whose_client_went_is_not_owed_again(guard: GameGuard) -> None:
    """A hand-over reply held for its save whose client went (cancelled) before it got
    it: lost with its connection, as any reply in flight is (its collection is saved),
    whether the carrier saw the reset before the save landed or only when it wrote the
    reply. The view's next state is the new game's, at once."""
    session, recorder, saving = restarted_while_saving(guard)
    first_end = session.state(1, key(session, 1), False)  # held for the commit ...
    assert isinstance(first_end, Wait)
    first_end.cancel()  # ... and its client goes
    saving.finish()
    recorder.batch = Batch()
    recorder.batch.finish()
    assert data(session.state(1, key(session, 1), False))["gameover"] is False


@pytest.mark.parametrize("restarter", [0, 1])
def test_a_hand_over_whose_save_failed_resumed_after_a_later_restart_is_not_owed_again(
        guard: GameGuard, restarter: int) -> None:
    """A hand-over reply whose save failed is owed again when it is resumed (the error
    goes out instead), unless another game has ended and been restarted meanwhile (a
    kept-alive client that reads nothing: its held replies wait, woken, behind the
    unsent ones, and are resumed only when it reads again): re-owing then hands over
    the *second* game's end, which the view was handed already (its other connection
    collected it) or saw as the restarter: twice (found by atk41b)."""
    session, recorder, saving = restarted_while_saving(guard)
    first_end = session.state(1, key(session, 1), False)  # held for the commit ...
    assert isinstance(first_end, Wait)
    saving.finish("server: could not save")  # ... which fails; its client reads nothing
    recorder.batch = Batch()
    recorder.batch.finish()  # later commits land at once
    # The next game is played to its end (player 1 on its other connection), restarted.
    play_to_the_end(session)
    second_end = session.state(1, key(session, 1), False)
    assert data(second_end)["gameover"] is True
    data(session.restart(restarter, key(session, restarter)))
    if restarter == 0:  # handed over to player 1, which saw it already
        assert session.state(1, key(session, 1), False) == second_end
    assert data(session.state(1, key(session, 1), False))["gameover"] is False
    assert reply(first_end.resume())["message"] == "server: could not save"  # read at last
    assert isinstance(session.state(1, key(session, 1), False), Wait)  # nothing new


def play_to_the_end(session: Session) -> None:
    """Play a TicTacToe session until its game is over (each mover takes the first cell)."""
    while not session.game.game_over():
        mover = session.game.current()[0]
        first_free = session.game.view(mover)["board"].index(-1)
        data(session.move(mover, key(session, mover), {"position": first_free}))


# ---------------------------------------------------------------- restart hand-over


def test_every_other_view_is_owed_the_final_state_once(guard: GameGuard) -> None:
    session = full_session(guard)
    assert data(session.move(0, key(session), {"msg": "quit"})) is None
    assert data(session.restart(0, key(session))) is None
    assert data(session.state(0, key(session), False))["gameover"] is False
    watcher = data(session.observe("p"))["key"]  # opened after the restart
    assert data(session.state(0, watcher, True)) == {
        "echo": "quit", "current": [], "gameover": True}
    assert data(session.state(0, watcher, True))["gameover"] is False
    assert isinstance(session.state(0, watcher, True), Wait)


def test_the_hand_over_lists_no_legal_moves(guard: GameGuard) -> None:
    session = full_session(guard, TicTacToe, 2)
    play_to_the_end(session)
    data(session.restart(0, key(session)))
    assert data(session.state(1, key(session, 1), False, legal_moves=True))[
        "legal_moves"] == []


def test_the_hand_over_is_the_final_state_reply_and_the_old_game_is_not_kept(
        guard: GameGuard) -> None:
    """The hand-over is kept as the reply of the final state (not the view's dict, which
    held the old game's objects): the owed view gets exactly the bytes its player got;
    with legal moves and the timer, the view with ``legal_moves: []`` and ``timer: null``
    added, as encoding ``{**view, ...}`` gives."""
    session = full_session(guard, TicTacToe, 2)
    play_to_the_end(session)
    final = session.state(1, key(session, 1), False)
    observed = session.game.view(0)
    assert isinstance(final, bytes) and reply(final)["data"]["gameover"] is True
    data(session.restart(0, key(session)))
    assert session.handover[0][1] is final  # the reply already made, not encoded again
    assert session.state(1, key(session, 1), False) == final
    watcher = data(session.observe(session.players[0].name))["key"]
    assert session.state(0, watcher, True, legal_moves=True, timer=True) == protocol.ok(
        {**observed, "legal_moves": [], "timer": None})


def test_a_state_with_legal_moves_after_the_stores_view_is_spliced_from_it(
        guard: GameGuard) -> None:
    """The store logs each player's view at a game's start and end (``view_text``); a
    state with legal moves then adds them to that encoding, without asking the game for
    its state again. The bytes are those of the view with legal moves, encoded."""
    session = full_session(guard, TicTacToe, 2)
    game = session.game.instance
    state = game.state
    asked: list[int] = []
    for end in (False, True):
        if end:
            play_to_the_end(session)
        texts = [session.view_text(player) for player in (0, 1)]
        expected = [protocol.ok(session.game.view(player, legal_moves=True))
                    for player in (0, 1)]
        game.state = lambda player_id: asked.append(player_id) or state(player_id)
        for player in (0, 1):
            answer = session.state(player, key(session, player), False, legal_moves=True)
            assert answer == expected[player]
            assert protocol.ok_data(answer).startswith(texts[player][:-1])
        game.state = state
        assert asked == []


class _Moody(Echo):
    """Echo whose state() fails (or is no JSON) while ``mood`` says so; "again" fails with
    a new text each time (an id, a time: what a student's message may hold)."""

    mood = ""
    calls = 0

    def state(self, player_id: int) -> dict[str, Any]:
        self.calls += 1
        if self.mood == "raise":
            raise RuntimeError("moody")
        if self.mood == "again":
            raise RuntimeError(f"moody {self.calls}")
        if self.mood == "set":
            return {"seen": {1, 2}}
        return {**super().state(player_id), "pair": (1, 2)}


def test_every_failure_of_a_game_is_recorded_in_one_place_that_the_dashboard_reads(
        guard: GameGuard) -> None:
    """``game_error`` was set in four places, and the dashboard told a failure apart by
    the accepted moves it came at (its mark) and by looking at the views it had just
    built (the session's page). Now ``game_failed`` records each failure, and ``noted``
    (in the dashboard's mark) changes with the first one since the last accepted move:
    a look that fails again and again (the page looks at every change of the mark) makes
    no change to look at, whatever its text."""
    session = full_session(guard, _Moody)
    game = session.game.instance
    assert session.game_failure is None
    noted = session.noted
    for mood, error in (("set", "cannot be sent as JSON"), ("again", "moody")):
        game.mood = mood
        data(session.move(0, key(session), {"msg": "hi"}))  # accepted: no failure stands
        assert session.game_failure is None and session.noted == noted
        with pytest.raises(GameCodeError, match=error):
            session.shown_view(0)
        assert error in str(session.game_failure) and session.noted == noted + 1
        for _ in range(3):
            with pytest.raises(GameCodeError):
                session.shown_view(0)
        assert session.noted == noted + 1
        noted = session.noted
    game.mood = "set"
    data(session.move(0, key(session), {"msg": "hi"}))
    with pytest.raises(TypeError):  # the store's log of a view: in the json module's words
        session.view_text(0)
    assert "cannot be sent as JSON" in str(session.game_failure)
    assert session.noted == noted + 1


class _Fragile(Echo):
    """Echo whose move ``{"crash": ...}`` raises, ``{"end": ...}`` ends the game, whose
    constructor fails while ``broken`` and whose state() fails once the game ``bad``."""

    broken = False
    bad = False

    def __init__(self, players: int) -> None:
        if type(self).broken:
            raise RuntimeError("cannot start again")
        super().__init__(players)
        self.ended = False

    def move(self, move: dict[str, Any], player_id: int) -> Any:
        if move.get("crash"):
            raise RuntimeError("crash")
        self.ended = bool(move.get("end"))
        return super().move(move, player_id)

    def game_over(self) -> bool:
        return self.ended

    def state(self, player_id: int) -> dict[str, Any]:
        if self.bad:
            raise RuntimeError("no end to show")
        return super().state(player_id)


def test_a_restart_clears_the_old_games_failure_and_a_failed_restart_is_recorded(
        guard: GameGuard) -> None:
    """A failure stayed marked (lobby, dashboard) after a restart until a move was
    accepted, although the game that failed was gone; and a restart whose new game
    failed (its constructor), or whose hand-over of the old game's end did (its
    state(): the players' next ``state`` gets that error), was not recorded."""
    fragile = type("Fragile", (_Fragile,), {})
    session = full_session(guard, fragile)
    with pytest.raises(GameCodeError, match="crash"):
        session.move(0, key(session), {"crash": True})
    assert "crash" in str(session.game_failure)
    data(session.restart(0, key(session)))
    assert session.game_failure is None
    # The new game cannot be made: recorded (the mark changes), and the old one plays on.
    fragile.broken = True
    noted = session.noted
    with pytest.raises(GameCodeError, match="cannot start again"):
        session.restart(0, key(session))
    assert "__init__() raised RuntimeError: cannot start again" in str(session.game_failure)
    assert session.noted == noted + 1 and session.games_played == 2
    fragile.broken = False
    data(session.move(0, key(session), {"msg": "hi"}))
    # The old game's end cannot be handed over: the failure its players meet is shown.
    data(session.move(0, key(session), {"msg": "bye", "end": True}))
    session.game.instance.bad = True
    data(session.restart(0, key(session)))
    assert "state() raised RuntimeError: no end to show" in str(session.game_failure)


def test_the_session_page_gets_the_state_a_client_gets_asking_the_game_once_per_change(
        guard: GameGuard) -> None:
    """The page asked the game's state() at every look (a student's print in state()
    printed every 2 seconds while the page was open), and showed the game's own dict
    (a tuple where the client gets a list)."""
    session = full_session(guard, _Moody)
    game = session.game.instance
    data(session.move(0, key(session), {"msg": "hi"}))
    calls = game.calls
    shown = [session.shown_view(0) for _ in range(3)]
    assert shown[0] == data(session.state(0, key(session), False)) == shown[2]
    assert shown[0]["pair"] == [1, 2] and game.calls == calls + 1


class _OwnKeys(Echo):
    """Echo whose state has keys called like those the framework adds to a view."""

    def state(self, player_id: int) -> dict[str, Any]:
        return {"timer": "mine", "legal_moves": ["mine"], **super().state(player_id)}


def test_the_hand_over_of_a_state_with_keys_named_legal_moves_and_timer_sets_them_in_place(
        guard: GameGuard) -> None:
    session = full_session(guard, _OwnKeys)
    data(session.move(0, key(session), {"msg": "quit"}))
    observed = session.game.view(0)
    data(session.restart(0, key(session)))
    watcher = data(session.observe("p"))["key"]
    handed = session.state(0, watcher, True, legal_moves=True, timer=True)
    assert handed == protocol.ok({**observed, "legal_moves": [], "timer": None})
    assert list(data(handed))[:2] == ["timer", "legal_moves"]


def test_a_state_with_its_own_legal_moves_key_is_not_spliced(guard: GameGuard) -> None:
    """The game's own "legal_moves" is set in place, as encoding the view does."""
    game_type = GameType("OwnKeys", _OwnKeys, guard)
    game_type.plain_states = True  # (as a bundled game's: spliced, were it not for the key)
    session = Session(game_type, "t", 1)
    session.add_player("p")
    session.view_text(0)
    answer = session.state(0, key(session), False, legal_moves=True)
    assert answer == protocol.ok(session.game.view(0, legal_moves=True))
    assert list(data(answer))[:2] == ["timer", "legal_moves"]


def test_a_restart_with_state_shows_the_restarters_new_view_as_seen(
        guard: GameGuard) -> None:
    session = full_session(guard, TicTacToe, 2)
    play_to_the_end(session)
    answer = reply(session.restart(0, key(session), with_state=True, legal_moves=True))
    assert answer["status"] == "ok" and answer["data"] is None
    state = answer["state"]
    assert state["board"] == [-1] * 9 and state["gameover"] is False
    assert state["legal_moves"] == ([{"position": p} for p in range(9)]
                                    if state["current"] == [0] else [])
    assert isinstance(session.state(0, key(session), False), Wait)  # seen: it waits
    # The other player is owed the old game's end first, then the new game.
    assert data(session.state(1, key(session, 1), False))["gameover"] is True
    assert data(session.state(1, key(session, 1), False))["board"] == [-1] * 9
    # Without the flag, the reply is the classic one and the view stays unseen.
    play_to_the_end(session)
    assert session.restart(0, key(session)) == b'{"status": "ok", "data": null}'
    assert data(session.state(0, key(session), False))["board"] == [-1] * 9


def test_a_restart_with_state_leaves_a_hand_over_owed_to_the_restarter(
        guard: GameGuard) -> None:
    """The restarter's view still owed the end of a game an earlier restart ended: the
    reply comes without the new state, and the next ``state`` shows that end first."""
    session = full_session(guard, TicTacToe, 2)
    play_to_the_end(session)
    data(session.restart(1, key(session, 1)))  # player 0 is owed the end ...
    answer = reply(session.restart(0, key(session), with_state=True))  # ... and restarts
    assert answer == {"status": "ok", "data": None}
    assert data(session.state(0, key(session), False))["gameover"] is True
    assert data(session.state(0, key(session), False))["board"] == [-1] * 9


def test_snapshot_and_restore_keep_players_game_and_hand_over(guard: GameGuard) -> None:
    session = full_session(guard)
    data(session.move(0, key(session), {"msg": "quit"}))
    data(session.restart(0, key(session)))
    data(session.move(0, key(session), {"msg": "again"}))
    copy = Session.restore(session.snapshot(), session.game_type)
    assert [(p.name, p.key) for p in copy.players] == [("p", key(session))]
    watcher = data(copy.observe("p"))["key"]
    assert data(copy.state(0, watcher, True))["echo"] == "quit"
    assert data(copy.state(0, watcher, True))["echo"] == "again"
    assert copy.moves == 2 and copy.games_played == 2


# ---------------------------------------------------------------- push: feeds, moves with state


def test_a_feed_checks_the_key_once_then_is_a_state_request_of_its_view(
        guard: GameGuard) -> None:
    session = full_session(guard)
    with pytest.raises(ProtocolError, match="invalid key"):
        session.feed(0, "wrong", False)
    feed = session.feed(0, key(session), False)
    assert data(feed())["echo"] == ""
    waiting = feed()
    assert isinstance(waiting, Wait) and session.waiting == 1
    data(session.move(0, key(session), {"msg": "hi"}))
    assert waiting.woken
    assert data(waiting.resume())["echo"] == "hi"
    # The feed and a state request share the view: one reply per change between them.
    assert isinstance(session.state(0, key(session), False), Wait)


def test_a_feed_ends_with_the_reason_its_session_was_closed(guard: GameGuard) -> None:
    session = full_session(guard)
    feed = session.feed(0, key(session), False)
    data(feed())
    waiting = feed()
    assert isinstance(waiting, Wait)
    session.close(framework_error("game session has timed out"))
    assert waiting.woken
    assert reply(waiting.resume())["message"] == "framework: game session has timed out"
    assert reply(feed())["message"] == "framework: game session has timed out"


def test_a_feed_gets_the_hand_over_then_the_new_game(guard: GameGuard) -> None:
    session = full_session(guard)
    data(session.observe("p"))
    watcher = session.feed(0, session.players[0].observer_key or "", True)
    data(watcher())
    waiting = watcher()
    data(session.move(0, key(session), {"msg": "quit"}))
    assert waiting.woken and data(waiting.resume())["gameover"] is True
    waiting = watcher()
    data(session.restart(0, key(session)))
    assert waiting.woken
    assert data(waiting.resume()) == {"echo": "quit", "current": [], "gameover": True}
    assert data(watcher()) == {"echo": "", "current": [0], "gameover": False}
    assert isinstance(watcher(), Wait)


def both_subscribed(guard: GameGuard) -> tuple[Session, int, int, dict[int, Wait]]:
    """A TicTacToe session whose two views wait on subscriptions: (session, the player
    to move, the other, each view's wait)."""
    session = full_session(guard, TicTacToe, 2)
    mover = session.game.current()[0]
    feeds = {pid: session.feed(pid, key(session, pid), False) for pid in (0, 1)}
    for feed in feeds.values():
        data(feed())
    waits = {pid: feed() for pid, feed in feeds.items()}
    return session, mover, 1 - mover, waits  # type: ignore[return-value]


def test_a_move_with_state_shows_the_movers_view_which_is_not_woken_by_it(
        guard: GameGuard) -> None:
    session, mover, other, waits = both_subscribed(guard)
    answer = reply(session.move(mover, key(session, mover), {"position": 4}, with_state=True,
                                legal_moves=True))
    assert answer["status"] == "ok" and answer["data"] is None
    assert answer["state"]["board"][4] == mover and answer["state"]["legal_moves"] == []
    assert waits[other].woken and not waits[mover].woken  # the mover has seen it
    assert data(waits[other].resume())["board"][4] == mover
    # The other player's move wakes the mover, whose wait was kept.
    rejected = reply(session.move(other, key(session, other), {"position": 4}, with_state=True))
    assert rejected["status"] == "illegalmove" and rejected["state"]["board"][4] == mover
    assert waits[mover].woken


def test_a_move_with_the_state_of_another_seat_shows_that_view_which_is_not_woken(
        guard: GameGuard) -> None:
    session, mover, other, waits = both_subscribed(guard)
    answer = reply(session.move(mover, key(session, mover), {"position": 4}, with_state=True,
                                legal_moves=True, state_of=(other, key(session, other))))
    assert answer["status"] == "ok" and answer["data"] is None
    assert answer["state"]["board"][4] == mover and answer["state"]["current"] == [other]
    assert answer["state"]["legal_moves"] == [{"position": p} for p in range(9) if p != 4]
    assert waits[mover].woken and not waits[other].woken  # the other seat has seen it
    assert data(waits[mover].resume())["board"][4] == mover
    # A wrong key for the state refuses the whole move, before it reaches the game.
    with pytest.raises(ProtocolError, match="^framework: invalid key$"):
        session.move(other, key(session, other), {"position": 0}, with_state=True,
                     state_of=(mover, "not-the-key"))
    with pytest.raises(ProtocolError, match="^framework: invalid key$"):
        session.move(other, key(session, other), {"position": 0}, with_state=True,
                     state_of=(5, key(session, mover)))
    # Whoever holds only an observer key reads that view through state requests alone.
    data(session.observer_code(mover, key(session, mover)))
    watcher = session.players[mover].observer_key or ""
    with pytest.raises(ProtocolError, match="^framework: invalid key: an observer key"):
        session.move(other, key(session, other), {"position": 0}, with_state=True,
                     state_of=(mover, watcher))
    assert session.game.view(0)["board"][0] == -1 and session.moves == 1


def play_to_the_last_move(session: Session) -> int:
    """Play a TicTacToe session up to its last move: the first mover has taken cells 0
    and 1, the other 8 and 7; the first mover (returned) wins with cell 2."""
    first = session.game.current()[0]
    for cell in (0, 8, 1, 7):
        mover = session.game.current()[0]
        data(session.move(mover, key(session, mover), {"position": cell}))
    return first


def test_a_move_that_ends_the_game_shows_the_mover_its_final_state_when_asked(
        guard: GameGuard) -> None:
    session, _, _, waits = both_subscribed(guard)
    mover = play_to_the_last_move(session)
    other = 1 - mover
    for pid in (0, 1):  # both views have seen the moves so far
        data(waits[pid].resume())
    answer = reply(session.move(mover, key(session, mover), {"position": 2}, with_state=True,
                                legal_moves=True, state_of=(other, key(session, other)),
                                final_state=True))
    assert answer["state"]["gameover"] is True and answer["state"]["winner"] == mover
    assert answer["final_state"] == {**answer["state"], "legal_moves": []}
    # Both views have seen the end: neither is given it again.
    assert isinstance(session.state(mover, key(session, mover), False), Wait)
    assert isinstance(session.state(other, key(session, other), False), Wait)


def test_a_move_that_does_not_end_the_game_carries_no_final_state(guard: GameGuard) -> None:
    session, mover, other, waits = both_subscribed(guard)
    answer = reply(session.move(mover, key(session, mover), {"position": 4},
                                state_of=(other, key(session, other)), with_state=True,
                                final_state=True))
    assert "final_state" not in answer and answer["state"]["board"][4] == mover
    assert waits[mover].woken  # the mover's view has not seen the move


def test_a_final_state_whose_save_fails_is_given_again(guard: GameGuard) -> None:
    recorder = Recorder()
    session = Session(GameType("TicTacToe", TicTacToe, guard), "t", 2, recorder=recorder)
    for name in ("a", "b"):
        session.add_player(name)
    recorder.batch.finish()
    mover = play_to_the_last_move(session)
    other = 1 - mover
    recorder.batch = saving = Batch()
    moved = session.move(mover, key(session, mover), {"position": 2}, with_state=True,
                         state_of=(other, key(session, other)), final_state=True)
    assert isinstance(moved, Wait)
    saving.finish("server: could not save")
    assert reply(moved.resume())["message"] == "server: could not save"
    # Neither view saw the end: both are given it (after the failure's report).
    for pid in (mover, other):
        answer = reply(session.state(pid, key(session, pid), False))
        if answer["status"] == "error":
            answer = reply(session.state(pid, key(session, pid), False))
        assert answer["data"]["gameover"] is True


def test_a_restart_may_show_other_seats_the_new_game_instead_of_the_old_end(
        guard: GameGuard) -> None:
    session = full_session(guard, TicTacToe, 2)
    winner = play_to_the_last_move(session)
    other = 1 - winner
    data(session.move(winner, key(session, winner), {"position": 2}))
    for pid in (0, 1):
        assert data(session.state(pid, key(session, pid), False))["gameover"] is True
    played = session.games_played
    with pytest.raises(ProtocolError, match="^framework: invalid key$"):
        session.restart(winner, key(session, winner), with_state=True,
                        states_of=((other, "not-the-key"),))
    for wrong in (((other, key(session, other)), (other, key(session, other))),
                  ((winner, key(session, winner)),)):  # one state, many times: refused
        with pytest.raises(ProtocolError, match="^framework: with_states_of must name other"):
            session.restart(winner, key(session, winner), with_state=True, states_of=wrong)
    assert session.games_played == played  # refused before the restart
    answer = reply(session.restart(winner, key(session, winner), with_state=True,
                                   legal_moves=True,
                                   states_of=((other, key(session, other)),)))
    assert answer["state"]["gameover"] is False and answer["states"][0]["gameover"] is False
    assert answer["states"] == [{**answer["state"], "legal_moves": answer["states"][0][
        "legal_moves"]}]
    # Both views have seen the new game; the other is not handed the old end ...
    for pid in (0, 1):
        assert isinstance(session.state(pid, key(session, pid), False), Wait)
    # ... but its observer view is, as always.
    data(session.observer_code(other, key(session, other)))
    watcher = session.players[other].observer_key or ""
    assert data(session.state(other, watcher, True))["gameover"] is True


def test_a_restart_without_states_of_hands_the_old_end_over_as_always(
        guard: GameGuard) -> None:
    session = full_session(guard, TicTacToe, 2)
    winner = play_to_the_last_move(session)
    data(session.move(winner, key(session, winner), {"position": 2}))
    answer = reply(session.restart(winner, key(session, winner), with_state=True))
    assert "states" not in answer
    assert data(session.state(1 - winner, key(session, 1 - winner), False))["gameover"] is True


class FailsToShowBoom(Echo):
    def state(self, player_id: int) -> dict[str, Any]:
        if self.message == "boom":
            raise ValueError("cannot show boom")
        return super().state(player_id)


def test_a_move_whose_state_fails_is_still_answered_and_the_view_stays_unseen(
        guard: GameGuard) -> None:
    session = full_session(guard, FailsToShowBoom)
    data(session.state(0, key(session), False))
    assert reply(session.move(0, key(session), {"msg": "boom"}, with_state=True)) == {
        "status": "ok", "data": None}  # the move stands, without "state"
    with pytest.raises(GameCodeError, match="state\\(\\) raised ValueError"):
        session.state(0, key(session), False)  # unseen: asked at once, and it fails


class Batch:
    """A group of changes being saved (the store's ``Ticket``), finished by the test."""

    def __init__(self) -> None:
        self.done = False
        self.error: str | None = None
        self.waiters: list[Wait] = []
        self.again: Batch | None = None
        self.unwaited = False
        self.crowded = False

    def wait(self, waiter: Wait) -> None:
        self.waiters.append(waiter)

    def finish(self, error: str | None = None) -> None:
        self.done, self.error = True, error
        for waiter in self.waiters:
            waiter.wake()


class Recorder:
    """Where the session reports changes: every change joins the test's open batch."""

    def __init__(self) -> None:
        self.batch = Batch()

    def changed(self, session: Session, event: str, **detail: Any) -> Batch:
        return self.batch

    def moved(self, session: Session, player_id: int, move: Any, rejection: Any) -> Batch:
        return self.batch

    def forget(self, session: Session) -> None:
        pass


class Recorded:
    """A recorder that keeps what it is told and saves at once."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def changed(self, session: Session, event: str, **detail: Any) -> None:
        self.events.append((event, dict(detail)))

    def moved(self, session: Session, player_id: int, move: Any, rejection: Any) -> None:
        self.changed(session, "move", player_id=player_id, move=move, rejection=rejection)

    def forget(self, session: Session) -> None:
        pass


def moved_while_saving(guard: GameGuard) -> tuple[Session, Batch, Any]:
    """An Echo session whose move with state ("b") waits for its batch to be saved."""
    recorder = Recorder()
    session = Session(GameType("Echo", Echo, guard), "t", 1, recorder=recorder)
    session.add_player("p")
    recorder.batch.finish()
    recorder.batch = saving = Batch()
    moved = session.move(0, key(session), {"msg": "b"}, with_state=True)
    assert isinstance(moved, Wait)
    return session, saving, moved


def test_a_reply_waiting_for_its_save_keeps_its_version_from_the_views_other_requests(
        guard: GameGuard) -> None:
    session, saving, moved = moved_while_saving(guard)
    # A subscription of the same view asks meanwhile: the version is taken, it waits.
    feed = session.feed(0, key(session), False)
    waiting = feed()
    assert isinstance(waiting, Wait) and not waiting.woken
    saving.finish()
    assert reply(moved.resume())["state"]["echo"] == "b"
    assert not waiting.woken


def test_a_failed_save_gives_the_version_back_to_the_view(guard: GameGuard) -> None:
    session, saving, moved = moved_while_saving(guard)
    waiting = session.feed(0, key(session), False)()
    assert isinstance(waiting, Wait)
    saving.finish("server: could not save")
    assert reply(moved.resume())["message"] == "server: could not save"
    assert waiting.woken  # the view never saw "b"
    # The next reply of the session reports the failure too (nothing writes it again:
    # ``again`` is None); after it, the view gets "b" at once instead of waiting for a
    # change it never saw.
    assert reply(waiting.resume())["message"] == "server: could not save"
    assert data(session.state(0, key(session), False))["echo"] == "b"


def test_after_a_failed_save_every_reply_waits_for_the_commit_that_writes_it_again(
        guard: GameGuard) -> None:
    session, saving, moved = moved_while_saving(guard)
    saving.again = retry = Batch()
    saving.finish("server: could not save")
    assert reply(moved.resume())["message"] == "server: could not save"
    # "b" is not on disk yet: a state waits for the retry ...
    later = session.state(0, key(session), False)
    assert isinstance(later, Wait) and not later.woken
    # ... which fails too: it says so, and the next waits for the retry after that.
    retry.again = last = Batch()
    retry.finish("server: could not save")
    assert reply(later.resume())["message"] == "server: could not save"
    after = session.state(0, key(session), False)
    assert isinstance(after, Wait) and not after.woken
    last.finish()
    assert reply(after.resume())["data"]["echo"] == "b"


def test_the_move_is_recorded_as_sent_even_if_the_game_changes_its_dict(
        guard: GameGuard) -> None:
    recorder = Recorded()
    session = Session(GameType("Greedy", Greedy, guard), "t", 1, recorder=recorder)
    session.add_player("")
    data(session.move(0, key(session), {"position": 4}))
    assert recorder.events[-1] == ("move", {"player_id": 0, "move": {"position": 4},
                                            "rejection": None})
