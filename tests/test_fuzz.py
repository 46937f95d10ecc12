"""Property-based fuzzing of the protocol core and the lobby (hypothesis).

Arbitrary bytes and arbitrary JSON must never raise out of the core, and
must always produce a well-formed reply. CI runs a fixed budget with a fixed
seed (derandomized). A long run, 20,000 examples per property (about ten
minutes; the per-test timeout must be off)::

    HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz.py --timeout 0
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gameserver import _json, protocol, registry
from gameserver.checked import game_types
from gameserver.framing import TERMINATOR, RequestReader
from gameserver.guard import GameGuard
from gameserver.lobby import Lobby, LobbyLimits
from gameserver.protocol import ProtocolError, decode_request
from gameserver.waits import Wait

settings.register_profile("ci", max_examples=300, derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=20_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20)

KEYS = ["type", "game", "session", "players", "name", "player_id", "key", "move", "observer",
        "keep_alive", "legal_moves", "limit", "after", "code"]
TYPES = ["join", "move", "state", "observe", "restart", "discover", "observer_code", "other"]
GAMES = ["Echo", "TicTacToe", "Chat", "Yahtzee", "Nope"]

requests = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES) | json_values},
    optional={
        "game": st.sampled_from(GAMES) | json_values,
        "session": st.sampled_from(["s", "auto", "auto-1", "x" * 200]) | json_values,
        "players": st.integers(-1, 5) | st.none() | json_values,
        "name": st.text(max_size=5) | json_values,
        "player_id": st.integers(-1, 3) | json_values,
        "key": st.text(max_size=32) | json_values,
        "move": st.dictionaries(st.sampled_from(["msg", "position", "name", "message"]),
                                json_values, max_size=2) | json_values,
        "observer": st.booleans() | json_values,
        "keep_alive": st.booleans(),
        "legal_moves": st.booleans(),
        "limit": st.integers(-1, 3) | json_values,
        "after": st.lists(st.sampled_from(GAMES + ["s", "auto-1"]), max_size=3) | json_values,
        "code": st.text(max_size=32) | json_values,
    })


def assert_well_formed(reply: bytes) -> dict[str, Any]:
    data = json.loads(reply)
    assert data["status"] in ("ok", "error", "illegalmove")
    if data["status"] == "error":
        assert data["message"].startswith(("server: ", "framework: ")), data
    return data


@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_request_or_a_well_formed_error(raw: bytes) -> None:
    reader = RequestReader(200)
    try:
        complete = reader.feed(raw + TERMINATOR)
        if complete is not None:
            decode_request(complete)
    except ProtocolError as err:
        assert_well_formed(err.reply())


@given(json_values)
def test_arbitrary_json_gives_a_request_or_a_well_formed_error(value: Any) -> None:
    try:
        decode_request(json.dumps(value).encode())
    except ProtocolError as err:
        assert_well_formed(err.reply())


@pytest.fixture(scope="module")
def lobby() -> Iterator[Lobby]:
    guard = GameGuard(time_limit=2)
    lobby = Lobby(game_types(registry.discover([]), guard),
                  LobbyLimits(join_timeout=0.05, max_sessions=100_000,
                              new_sessions_per_minute=10**9))
    yield lobby
    lobby.close()
    guard.close()


@given(requests)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_the_lobby_answers_every_request(lobby, request: dict[str, Any]) -> None:
    raw = json.dumps(request).encode()
    try:
        envelope = decode_request(raw)
    except ProtocolError as err:
        assert_well_formed(err.reply())
        return
    outcome = lobby.handle(envelope.request, "127.0.0.1")
    if isinstance(outcome, Wait):
        outcome.cancel()  # the client went away: must not break anything
        return
    assert_well_formed(outcome)
    lobby.tick()  # time passes: joins time out


# ---------------------------------------------------------------- the quick paths

REFERENCE_ENCODER = json.JSONEncoder(ensure_ascii=True, check_circular=True, allow_nan=False)


@given(json_values)
def test_quick_json_encoding_and_decoding_agree_with_the_json_module(value: Any) -> None:
    try:
        text = REFERENCE_ENCODER.encode(value)
    except ValueError:  # infinity
        with pytest.raises(ValueError):
            protocol.encode_json(value)
        return
    assert protocol.encode_json(value) == text
    # (a reply: its data encoded between fixed text, the same bytes as the whole encoded)
    assert protocol.ok(value) == REFERENCE_ENCODER.encode({"status": "ok", "data": value}).encode()
    assert _json.decode_json(text) == json.loads(text)
    assert _json.decode_json(" " + text + "\n") == json.loads(text)  # the slow way


@given(requests | json_values)
def test_the_quick_request_check_agrees_with_the_step_by_step_one(value: Any) -> None:
    # Where the quick way finds a request, the step-by-step one finds the same; where
    # the quick way refuses its extension keys (the same builder does), it does too.
    try:
        quick = protocol._quick_envelope(value)
    except ProtocolError as err:
        with pytest.raises(ProtocolError) as checked:
            protocol._checked_envelope(value)
        assert str(checked.value) == str(err)
        return
    if quick is not None:
        assert quick == protocol._checked_envelope(value)
