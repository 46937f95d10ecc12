"""The sans-I/O protocol core, with bytes alone: framing, decoding, replies."""

from __future__ import annotations

import json
import re
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from gameserver import protocol
from gameserver.protocol import (
    STATES_OF_MAX,
    Discover,
    Join,
    Move,
    Observe,
    ProtocolError,
    Restart,
    State,
    StateWithMoves,
    Subscribe,
    Unsubscribe,
    decode_request,
)


def encode(data: object) -> bytes:
    return json.dumps(data).encode()


# ---------------------------------------------------------------- decoding


def test_decodes_every_request_type() -> None:
    assert decode_request(encode({"type": "join", "game": "G", "session": "s",
                                  "players": None, "name": ""})).request == Join("G", "s", None, "")
    assert decode_request(encode({"type": "move", "game": "G", "session": "s", "player_id": 1,
                                  "key": "k", "move": {"a": 1}})).request == \
        Move("G", "s", 1, "k", {"a": 1})
    assert decode_request(encode({"type": "state", "game": "G", "session": "s", "player_id": 0,
                                  "key": "k", "observer": True})).request == \
        State("G", "s", 0, "k", True)
    assert decode_request(encode({"type": "observe", "game": "G", "session": "s",
                                  "name": "n"})).request == Observe("G", "s", "n")
    assert decode_request(encode({"type": "restart", "game": "G", "session": "s",
                                  "player_id": 0, "key": "k"})).request == \
        Restart("G", "s", 0, "k")


@pytest.mark.parametrize("request_data", [
    {"type": "move", "game": "G", "session": "s", "player_id": 1, "key": "k", "move": {}},
    {"type": "restart", "game": "G", "session": "s", "player_id": 1, "key": "k"},
    {"type": "state", "game": "G", "session": "s", "player_id": 1, "key": "k",
     "observer": False},
    {"type": "state", "game": "G", "session": "s", "player_id": 1, "key": "k",
     "observer": False, "legal_moves": True},
])
def test_only_false_lets_a_reply_go_out_before_its_save(request_data: dict) -> None:
    """``"wait_for_save": false`` (an extension) on a move, a restart or a state; left
    out, or anything but false, the reply waits for the save as always."""
    assert decode_request(encode(request_data)).request.wait_for_save is True
    for value in (True, 0, "false", None, [], {}):
        request = {**request_data, "wait_for_save": value}
        assert decode_request(encode(request)).request.wait_for_save is True
    request = {**request_data, "wait_for_save": False}
    assert decode_request(encode(request)).request.wait_for_save is False


def test_only_true_asks_a_move_for_the_movers_final_state() -> None:
    """``"final_state": true`` (an extension) on a move; anything else is left out."""
    move = {"type": "move", "game": "G", "session": "s", "player_id": 1, "key": "k",
            "move": {}}
    assert decode_request(encode(move)).request.final_state is False
    for value in (False, 1, "true", None, [], {}):
        assert decode_request(encode({**move, "final_state": value})).request.final_state \
            is False
    assert decode_request(encode({**move, "final_state": True})).request.final_state is True


def test_a_restart_with_state_may_name_other_players_whose_new_states_it_carries() -> None:
    restart = {"type": "restart", "game": "G", "session": "s", "player_id": 0, "key": "k",
               "with_state": True}
    named = [{"player_id": 1, "key": "k1"}, {"player_id": 2, "key": "k2"}]
    request = decode_request(encode({**restart, "with_states_of": named})).request
    assert request.states_of == ((1, "k1"), (2, "k2"))
    # Only with "with_state": true (else not read at all).
    assert decode_request(encode({**restart, "with_state": False, "with_states_of": named})
                          ).request.states_of == ()
    for wrong in ({"player_id": 1, "key": "k"}, [], [{"player_id": 1}], [{"player_id": "1",
                  "key": "k"}], [{"player_id": 1, "key": "k", "x": 0}], [1],
                  [{"player_id": 1, "key": "k"}] * (STATES_OF_MAX + 1)):
        with pytest.raises(ProtocolError, match="^framework: key 'with_states_of' of a "
                           "restart request must list the players"):
            decode_request(encode({**restart, "with_states_of": wrong}))


@pytest.mark.parametrize("legal_moves", [False, True])
def test_a_state_may_ask_for_the_timer_and_not_to_wait_for_the_save_at_once(
        legal_moves: bool) -> None:
    state = {"type": "state", "game": "G", "session": "s", "player_id": 1, "key": "k",
             "observer": False, "legal_moves": legal_moves}
    for timer in (False, True):
        for wait in (False, True):
            request = decode_request(encode({**state, "timer": timer,
                                             "wait_for_save": wait})).request
            assert isinstance(request, StateWithMoves) is legal_moves
            assert (request.timer, request.wait_for_save) == (timer, wait)


def test_extra_keys_are_ignored_and_keep_alive_is_opt_in() -> None:
    base = {"type": "observe", "game": "G", "session": "s", "name": "n", "extra": [1]}
    assert decode_request(encode(base)).keep_alive is False
    assert decode_request(encode({**base, "keep_alive": True})).keep_alive is True
    assert decode_request(encode({**base, "keep_alive": 1})).keep_alive is False


@pytest.mark.parametrize("raw, message", [
    (b"\xff\xfe{}", "^server: request is not valid UTF-8"),
    (b'{"type": "join"', "^server: request is not valid JSON"),
    (b"", "^server: request is not valid JSON"),
    (b'{"type": "join", "x": NaN}', "^server: request is not valid JSON"),
    (b"[1, 2]", "^framework: a request must be a JSON object, not a list"),
    (b"{}", "^framework: request has no 'type'"),
    (b'{"type": "fly"}', "^framework: unknown request type 'fly'"),
    (b'{"type": 3}', "^framework: unknown request type 3"),
])
def test_bad_bytes_and_json_get_prefixed_errors(raw: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_request(raw)


@pytest.mark.parametrize("change, message", [
    ({"player_id": True}, "key 'player_id' of a move request must be an integer, not a boolean"),
    ({"player_id": 1.0}, "key 'player_id' of a move request must be an integer, not a number"),
    ({"key": 5}, "key 'key' of a move request must be a string, not an integer"),
    ({"move": [1]}, "key 'move' of a move request must be a JSON object, not a list"),
    ({"game": None}, "key 'game' of a move request must be a string, not null"),
])
def test_types_are_checked_exactly_and_the_key_is_named(change: dict, message: str) -> None:
    request = {"type": "move", "game": "G", "session": "s", "player_id": 0, "key": "k",
               "move": {}, **change}
    with pytest.raises(ProtocolError, match="^framework: " + message):
        decode_request(encode(request))


def test_missing_key_is_named() -> None:
    with pytest.raises(ProtocolError, match="^framework: join request is missing the key 'name'"):
        decode_request(encode({"type": "join", "game": "G", "session": "s", "players": 2}))


def test_players_may_be_null_or_int_but_not_bool() -> None:
    join = {"type": "join", "game": "G", "session": "s", "name": ""}
    assert decode_request(encode({**join, "players": 2})).request.players == 2
    with pytest.raises(ProtocolError, match="'players' .* must be an integer or null"):
        decode_request(encode({**join, "players": False}))


def test_observer_must_be_a_bool() -> None:
    with pytest.raises(ProtocolError, match="'observer' .* must be true or false, not an integer"):
        decode_request(encode({"type": "state", "game": "G", "session": "s", "player_id": 0,
                               "key": "k", "observer": 0}))


def test_deeply_nested_json_is_an_error_not_a_crash() -> None:
    with pytest.raises(ProtocolError, match="^server: request is not valid JSON"):
        decode_request(b"[" * 200_000 + b"]" * 200_000)


def test_a_number_too_long_to_read_says_so_not_how_to_change_python() -> None:
    """Python refuses to read a whole number of more than 4,300 digits and tells the
    programmer to call sys.set_int_max_str_digits(): the student whose client sent it
    cannot, and should not; they need to know what is wrong with their request."""
    join = {"type": "join", "game": "G", "session": "s", "name": ""}
    raw = encode(join)[:-1] + b', "players": ' + b"9" * 5000 + b"}"
    with pytest.raises(ProtocolError) as caught:
        decode_request(raw)
    message = str(caught.value)
    assert message == ("server: request is not valid JSON (a whole number has 5000 digits; "
                       "at most 4300 are read)"), message


# ---------------------------------------------------------------- replies


def test_replies_have_the_classic_shapes() -> None:
    assert json.loads(protocol.ok({"a": 1})) == {"status": "ok", "data": {"a": 1}}
    assert json.loads(protocol.ok(None)) == {"status": "ok", "data": None}
    assert json.loads(protocol.error("framework: x")) == {"status": "error",
                                                          "message": "framework: x"}


def test_string_rejections_get_the_game_prefix_other_values_pass_through() -> None:
    assert json.loads(protocol.illegal_move("occupied")) == {
        "status": "illegalmove", "message": "game: occupied"}
    assert json.loads(protocol.illegal_move(["no such card", 3])) == {
        "status": "illegalmove", "message": ["no such card", 3]}


def test_non_json_data_cannot_be_encoded() -> None:
    with pytest.raises(TypeError):
        protocol.ok({"cards": {1, 2}})


def test_valid_requests_take_the_quick_way() -> None:
    # A regression here costs speed, not correctness: every request would be checked
    # key by key (see decode_request).
    ids = {"game": "G", "session": "s", "player_id": 0, "key": "k"}
    for request in ({"type": "join", "game": "G", "session": "s", "players": None, "name": ""},
                    {"type": "move", **ids, "move": {}},
                    {"type": "state", **ids, "observer": False, "legal_moves": True},
                    {"type": "observe", "game": "G", "session": "s", "name": "n"},
                    {"type": "restart", **ids}, {"type": "discover"},
                    {"type": "move", **ids, "move": {}, "with_state": True, "legal_moves": True},
                    {"type": "subscribe", **ids, "observer": True, "legal_moves": True},
                    {"type": "unsubscribe", "subscription": 3}):
        assert protocol._quick_envelope(request) == protocol._checked_envelope(request)


def test_encoding_works_again_after_a_failed_encoding() -> None:
    # The encoder is built once; a failure must not leave anything behind in it.
    state: dict[str, object] = {"board": [1, 2], "bad": {1}}
    with pytest.raises(TypeError):
        protocol.ok(state)
    del state["bad"]  # the same dict again, fixed: no "circular reference" now
    assert json.loads(protocol.ok(state)) == {"status": "ok", "data": state}
    looped: list[object] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="Circular"):
        protocol.ok(looped)
    assert json.loads(protocol.ok([state, state])) == {"status": "ok", "data": [state, state]}


# ---------------------------------------------------------------- requests sent again


MOVE = {"type": "move", "game": "G", "session": "s", "player_id": 0, "key": "k",
        "move": {"position": 4}, "keep_alive": True}


def test_the_same_bytes_again_are_the_same_request_with_a_move_of_their_own() -> None:
    raw = encode(MOVE)
    first, keep_alive = protocol.decode(raw)
    assert raw in protocol._KNOWN and keep_alive
    first.move.pop("position")  # what a game may do to the move it is handed
    first.move["other"] = [1]
    again, keep_alive = protocol.decode(raw)
    assert again == Move("G", "s", 0, "k", {"position": 4}) and keep_alive
    assert again is not first and again.move is not first.move
    assert decode_request(raw).request == again  # (decode_request takes the same way)
    state = encode({"type": "state", "game": "G", "session": "s", "player_id": 0, "key": "k",
                    "observer": False})
    assert protocol.decode(state) == protocol.decode(state) == (State("G", "s", 0, "k", False),
                                                                False)


def test_a_move_holding_a_list_or_an_object_is_decoded_anew_each_time() -> None:
    raw = encode({**MOVE, "move": {"cells": [[1], 2], "at": {"x": 1}}})
    first = protocol.decode(raw)[0]
    assert raw not in protocol._KNOWN
    first.move["cells"][0].append(3)
    first.move["at"].clear()
    assert protocol.decode(raw)[0].move == {"cells": [[1], 2], "at": {"x": 1}}


def test_only_the_exact_bytes_find_a_request_and_only_repeated_kinds_are_kept() -> None:
    ids = {"game": "G", "session": "s", "player_id": 0, "key": "k"}
    for other in ({**MOVE, "move": {"position": 5}}, {**MOVE, "key": "K"},
                  {**MOVE, "keep_alive": False}, {**MOVE, "with_state": True}):
        assert protocol.decode(encode(MOVE)) != protocol.decode(encode(other))
    spaceless = encode(MOVE).replace(b", ", b",")  # the same request in other bytes
    assert protocol.decode(spaceless) == protocol.decode(encode(MOVE))
    assert spaceless in protocol._KNOWN and encode(MOVE) in protocol._KNOWN
    for request in ({"type": "join", "game": "G", "session": "s", "players": None,
                     "name": "n"},
                    {"type": "subscribe", **ids, "observer": False},
                    {**MOVE, "move": {str(key): key for key in range(9)}},  # 9 keys: too many
                    {**MOVE, "game": "G" * protocol.KNOWN_SIZE_MAX}):
        protocol.decode(encode(request))
        assert encode(request) not in protocol._KNOWN


def test_a_request_kept_is_refused_where_it_is_nested_too_deeply() -> None:
    raw = encode({**MOVE, "with_state": {"player_id": 1, "key": "k"}})
    assert protocol.decode(raw, 32)[0].state_of == (1, "k")
    assert raw in protocol._KNOWN
    with pytest.raises(ProtocolError, match="^server: request is nested too deeply"):
        protocol.decode(raw, 1)


def test_errors_are_not_kept_and_come_again_the_same() -> None:
    for raw in (b'{"type": "move"}', b"\xff", b"{", encode({**MOVE, "player_id": True})):
        messages = set()
        for _ in range(2):
            with pytest.raises(ProtocolError) as caught:
                protocol.decode(raw)
            messages.add(str(caught.value))
        assert len(messages) == 1 and raw not in protocol._KNOWN


def test_endless_distinct_requests_keep_at_most_known_max_of_them() -> None:
    """A client that sends a new request every time (a changing key) gains nothing and
    costs the server at most KNOWN_MAX entries: a full table starts again empty."""
    raws = [encode({**MOVE, "key": f"k{number}"}) for number in range(protocol.KNOWN_MAX * 2)]
    protocol._KNOWN.clear()  # (what other tests left)
    for raw in raws:
        assert protocol.decode(raw)[0].key == json.loads(raw)["key"]
    assert len(protocol._KNOWN) == protocol.KNOWN_MAX
    assert list(protocol._KNOWN) == raws[protocol.KNOWN_MAX:]
    protocol.decode(raws[0])  # (one more: the table starts again)
    assert list(protocol._KNOWN) == raws[:1]


def test_servers_in_threads_of_one_process_share_the_requests_kept_safely() -> None:
    """Several servers in one process (``ServerThread``s, each its own event loop in its
    own thread) decode into the one table, switching threads as often as the interpreter
    can: no request may fail (a table dropping its oldest entry with ``next(iter(...))``
    did: "dictionary changed size during iteration") and the table may pass KNOWN_MAX by
    at most an entry per other thread adding at that moment, never for good."""
    threads_count, per_thread = 4, 4 * protocol.KNOWN_MAX
    failures: list[BaseException] = []

    def decode_distinct(thread: int) -> None:
        try:
            for number in range(per_thread):
                raw = compact({"type": "state", "game": "G", "session": f"s{thread}",
                               "player_id": 0, "key": f"{number}", "observer": False})
                assert protocol.decode(raw)[0].key == str(number)
        except BaseException as err:  # noqa: BLE001 (told to the test's thread below)
            failures.append(err)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        threads = [threading.Thread(target=decode_distinct, args=(thread,))
                   for thread in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []
    assert len(protocol._KNOWN) <= protocol.KNOWN_MAX + threads_count - 1


def test_the_requests_kept_take_at_most_one_mib() -> None:
    """The largest entries: KNOWN_SIZE_MAX bytes each, made of as many small values as a
    kept request may hold (a move of KNOWN_MOVE_KEYS_MAX floats, a restart naming many
    players). Measured with tracemalloc, which counts every allocation."""
    def largest(make: Any) -> Iterator[bytes]:
        size = 0
        while len(make(0, size + 1)) <= protocol.KNOWN_SIZE_MAX:
            size += 1
        return (make(number, size) for number in range(protocol.KNOWN_MAX))

    keys = range(protocol.KNOWN_MOVE_KEYS_MAX)
    for requests in (
            largest(lambda n, size: compact({**MOVE, "key": f"{n:06}", "game": "G" * size,
                                             "move": {str(key): 1.5 for key in keys}})),
            largest(lambda n, size: compact({**MOVE, "key": f"{n:06}",
                                             "move": {str(key): "v" * size for key in keys}})),
            largest(lambda n, size: compact({
                "type": "restart", "game": "G", "session": "s", "player_id": 0,
                "key": f"{n:06}", "with_state": True,
                "with_states_of": [{"player_id": 0, "key": ""}] * size}))):
        protocol._KNOWN.clear()
        tracemalloc.start()
        try:
            for raw in requests:  # (made while traced: the bytes kept count too)
                protocol.decode(raw)
            kept = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert len(protocol._KNOWN) == protocol.KNOWN_MAX
        assert kept < 2 ** 20


def compact(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


# ---------------------------------------------------------------- discover paging (extension)


def test_discover_lists_at_most_a_page_after_a_cursor() -> None:
    assert decode_request(encode({"type": "discover"})).request == \
        Discover(protocol.DISCOVER_SESSIONS_MAX, None)
    assert decode_request(encode({"type": "discover", "limit": None, "after": None})).request \
        == Discover(protocol.DISCOVER_SESSIONS_MAX, None)
    assert decode_request(encode({"type": "discover", "limit": 5,
                                  "after": ["Chat", "s"]})).request == Discover(5, ("Chat", "s"))
    # More than the server lists at once is not an error: the reply's "next" says there is more.
    assert decode_request(encode({"type": "discover", "limit": 10**9})).request.limit == \
        protocol.DISCOVER_SESSIONS_MAX


@pytest.mark.parametrize("extra, message", [
    ({"limit": 0}, "key 'limit' of a discover request must be a positive integer, not 0"),
    ({"limit": True}, "must be a positive integer, not true"),
    ({"limit": "5"}, "must be a positive integer, not '5'"),
    ({"after": "Chat"}, "key 'after' of a discover request must be the 'next' of an earlier"),
    ({"after": ["Chat"]}, "must be the 'next' of an earlier discover reply"),
    ({"after": ["Chat", 1]}, "(a list of two strings), not"),
])
def test_discover_paging_keys_are_checked(extra: dict, message: str) -> None:
    with pytest.raises(ProtocolError, match=re.escape(message)) as raised:
        decode_request(encode({"type": "discover", **extra}))
    assert str(raised.value).startswith("framework: ")


# ---------------------------------------------------------------- push (0.2.0)


def test_push_requests_and_flags_decode_and_default_to_off() -> None:
    ids = {"game": "G", "session": "s", "player_id": 1, "key": "k"}
    assert decode_request(encode({"type": "subscribe", **ids, "observer": False})).request == \
        Subscribe("G", "s", 1, "k", False, False)
    assert decode_request(encode({"type": "subscribe", **ids, "observer": True,
                                  "legal_moves": True})).request.legal_moves is True
    assert decode_request(encode({"type": "unsubscribe", "subscription": 2})).request == \
        Unsubscribe(2)
    move = {"type": "move", **ids, "move": {}}
    plain = decode_request(encode(move)).request
    assert (plain.with_state, plain.legal_moves) == (False, False)
    asked = decode_request(encode({**move, "with_state": True, "legal_moves": True})).request
    assert (asked.with_state, asked.legal_moves) == (True, True)
    # Flags are true or left out: anything else is "not asked for", as for keep_alive.
    odd = decode_request(encode({**move, "with_state": 1, "legal_moves": True})).request
    assert (odd.with_state, odd.legal_moves) == (False, False)
    # ... or the player whose state the reply carries (a client holding several seats).
    other = decode_request(encode({**move, "with_state": {"player_id": 0, "key": "k0"},
                                   "legal_moves": True})).request
    assert (other.with_state, other.legal_moves, other.state_of) == (True, True, (0, "k0"))
    assert asked.state_of is None
    restart = {"type": "restart", **ids}
    assert decode_request(encode(restart)).request == Restart("G", "s", 1, "k")
    shown = decode_request(encode({**restart, "with_state": True, "legal_moves": True})).request
    assert (shown.with_state, shown.legal_moves) == (True, True)
    for odd_flag in (1, {"player_id": 1, "key": "k"}):  # true or left out, nothing else
        odd = decode_request(encode({**restart, "with_state": odd_flag})).request
        assert (odd.with_state, odd.legal_moves) == (False, False)


@pytest.mark.parametrize("named", [{}, {"player_id": "0", "key": "k"}, {"player_id": 0},
                                   {"player_id": True, "key": "k"},
                                   {"player_id": 0, "key": "k", "observer": True}])
def test_a_move_naming_whose_state_it_wants_must_name_a_player_and_key(named: dict) -> None:
    ids = {"game": "G", "session": "s", "player_id": 1, "key": "k"}
    with pytest.raises(ProtocolError, match="^framework: key 'with_state' of a move request "
                       "must be true, or name the player whose state"):
        decode_request(encode({"type": "move", **ids, "move": {}, "with_state": named}))


@pytest.mark.parametrize("request_, message", [
    ({"type": "subscribe", "game": "G", "session": "s", "player_id": 0, "key": "k"},
     "subscribe request is missing the key 'observer'"),
    ({"type": "unsubscribe", "subscription": "1"},
     "key 'subscription' of an unsubscribe request must be an integer, not a string"),
])
def test_push_requests_are_checked_like_the_others(request_: dict, message: str) -> None:
    with pytest.raises(ProtocolError, match="^framework: " + message):
        decode_request(encode(request_))


def test_a_move_reply_with_state_is_the_reply_with_one_key_more() -> None:
    state = protocol.ok({"board": [1, -1], "current": [0], "gameover": False})
    for reply in (protocol.ok(None), protocol.illegal_move("taken"),
                  protocol.illegal_move(["no", 3])):
        joined = json.loads(protocol.with_state(reply, state))
        assert joined == {**json.loads(reply), "state": json.loads(state)["data"]}


def test_a_described_request_shows_no_key_not_even_of_the_seat_with_state_names() -> None:
    """The server logs every request at DEBUG with ``describe``; a move naming another
    seat's state carries that seat's key, which was logged."""
    request = protocol.decode_request(encode(
        {"type": "move", "game": "TicTacToe", "session": "s", "player_id": 0,
         "key": "MOVERKEY", "move": {"position": 4},
         "with_state": {"player_id": 1, "key": "OTHERKEY"}})).request
    text = protocol.describe(request)
    assert "KEY" not in text, text
    assert "state_of=1" in text  # whose state, without the key
    observe = protocol.decode_request(encode(
        {"type": "observe", "game": "Chat", "session": "s", "name": "ann",
         "code": "THECODE"})).request
    assert "THECODE" not in protocol.describe(observe)



def test_a_described_join_shows_no_tournament_password() -> None:
    """A participant joins tournament-NAME as 'alice#tulip-42': what follows '#' is its
    password (kept only as a salted hash), which the DEBUG log of every request wrote out."""
    join = protocol.decode_request(encode(
        {"type": "join", "game": "Nim", "session": "tournament-cup", "players": None,
         "name": "alice#tulip-42"})).request
    text = protocol.describe(join)
    assert "tulip" not in text, text
    assert "alice#" in text  # who joined, and that a password came

def test_a_described_request_is_short_whatever_its_move_holds() -> None:
    """Every request is logged at DEBUG with ``describe``: a move of 900 KB was written to
    the log in full, so the log grew as fast as clients sent."""
    request = protocol.decode_request(encode(
        {"type": "move", "game": "Echo", "session": "s", "player_id": 0, "key": "k",
         "move": {"msg": "x" * 900_000, "list": list(range(10_000)),
                  "deep": [[[[[[[[1]]]]]]]]}})).request
    text = protocol.describe(request)
    assert len(text) < 1_000, len(text)
    assert text.startswith("Move(game='Echo', session='s', player_id=0, move={")
