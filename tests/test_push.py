"""Subscriptions (the push extension) on one connection, without sockets.

The connection is ``test_connection.MemoryConnection`` in front of the real
lobby: what the server writes waits in memory until the test's "client"
takes it, and what the event loop would run soon (a woken subscription)
runs when the test says so. The same rules across real sockets are in
``test_server_push.py``.
"""

from __future__ import annotations

import json
from typing import Any

from gameserver._connstate import State
from gameserver._push import SUBSCRIPTIONS_MAX
from gameserver.framing import TERMINATOR
from tests.test_connection import Host, MemoryConnection, frame, hosting, join, two_players

TTT = {"game": "TicTacToe", "session": "t"}


def ids(player: dict[str, Any], game: dict[str, str] = TTT) -> dict[str, Any]:
    return {**game, "player_id": player["player_id"], "key": player["key"]}


def subscribe(player: dict[str, Any], observer: bool = False, keep_alive: bool = True,
              game: dict[str, str] = TTT, **extra: Any) -> bytes:
    return frame({"type": "subscribe", **ids(player, game), "observer": observer, **extra},
                 keep_alive)


def move(player: dict[str, Any], game: dict[str, str] = TTT, **move: Any) -> bytes:
    return frame({"type": "move", **ids(player, game), "move": move})


def messages(conn: MemoryConnection) -> tuple[list[Any], dict[int, list[Any]]]:
    """What the client takes now: the replies, and the pushes by subscription."""
    replies: list[Any] = []
    pushes: dict[int, list[Any]] = {}
    for part in conn.take().split(TERMINATOR)[:-1]:
        message = json.loads(part)
        if "push" in message:
            pushes.setdefault(message.pop("push"), []).append(message)
        else:
            replies.append(message)
    return replies, pushes


def mover_of(host: Host, ann: dict[str, Any], bob: dict[str, Any]) -> dict[str, Any]:
    current = host.lobby.sessions["TicTacToe", "t"].game.current()
    return ann if current == [ann["player_id"]] else bob


# ---------------------------------------------------------------- subscribing


def test_a_subscription_answers_then_pushes_each_new_state_of_its_view_once() -> None:
    with hosting() as host:
        _, ann, bob = two_players(host)
        conn = MemoryConnection(host)
        conn.send(subscribe(ann))
        replies, pushes = messages(conn)
        assert replies == [{"status": "ok", "data": {"subscription": 1}}]
        assert pushes[1][0]["data"]["board"] == [-1] * 9  # not seen yet: at once
        mover = mover_of(host, ann, bob)
        MemoryConnection(host).send(move(mover, position=4))
        assert conn.unsent == b""  # pushed soon, never in the middle of the move
        host.run_soon()
        replies, pushes = messages(conn)
        assert replies == [] and [p["data"]["board"][4] for p in pushes[1]] == [
            mover["player_id"]]
        host.run_soon()
        assert conn.take() == b""  # nothing twice
        session = host.lobby.sessions["TicTacToe", "t"]
        assert session.waiting == 1 and conn.state is State.READING


def test_subscribing_needs_a_kept_alive_connection() -> None:
    with hosting() as host:
        _, ann, _ = two_players(host)
        conn = MemoryConnection(host)
        conn.send(subscribe(ann, keep_alive=False))
        assert "needs a kept-alive connection" in json.loads(conn.take())["message"]
        assert conn.state is State.CLOSED


def test_a_wrong_key_a_second_subscription_of_a_view_and_too_many_are_refused() -> None:
    with hosting() as host:
        _, ann, bob = two_players(host)
        conn = MemoryConnection(host)
        conn.send(subscribe({**ann, "key": "wrong"}))
        conn.send(subscribe(ann))
        conn.send(subscribe(ann))
        replies, _ = messages(conn)
        assert [r.get("message") for r in replies] == [
            "framework: invalid key", None,
            "framework: this view is subscribed already on this connection (subscription 1)"]
        for _ in range(SUBSCRIPTIONS_MAX - 1):  # the other views of other sessions
            conn.send(join(f"e{_}", 1))
        joined = [r["data"] for r in messages(conn)[0]]
        for player in joined:
            conn.send(subscribe(player, game={"game": "Echo", "session": player["session"]}))
        replies, _ = messages(conn)
        assert replies[-1] == {"status": "ok", "data": {"subscription": SUBSCRIPTIONS_MAX}}
        conn.send(subscribe(bob))
        assert "too many subscriptions" in messages(conn)[0][0]["message"]


def test_unsubscribe_ends_a_subscription_and_the_session_forgets_it() -> None:
    with hosting() as host:
        _, ann, bob = two_players(host)
        conn = MemoryConnection(host)
        conn.send(subscribe(ann))
        conn.send(subscribe(ann, observer=True))  # no observer key yet: refused
        conn.send(frame({"type": "unsubscribe", "subscription": 1}))
        conn.send(frame({"type": "unsubscribe", "subscription": 1}))
        replies, pushes = messages(conn)
        assert [r.get("message") for r in replies] == [
            None, "framework: invalid key", None, "framework: no subscription 1 on this "
            "connection"]
        assert host.lobby.sessions["TicTacToe", "t"].waiting == 0
        MemoryConnection(host).send(move(mover_of(host, ann, bob), position=0))
        host.run_soon()
        assert conn.take() == b""


# ---------------------------------------------------------------- beside the requests


def test_pushes_come_while_a_request_waits_and_replies_keep_their_order() -> None:
    with hosting() as host:
        _, ann, bob = two_players(host)
        conn = MemoryConnection(host)
        conn.send(subscribe(ann))
        messages(conn)
        conn.send(join("later", 2))  # waits for a second player
        assert conn.state is State.WAITING
        MemoryConnection(host).send(move(mover_of(host, ann, bob), position=8))
        host.run_soon()
        replies, pushes = messages(conn)
        assert replies == [] and len(pushes[1]) == 1
        MemoryConnection(host).send(join("later", 2))
        conn.send(frame({"type": "discover"}))
        host.run_soon()
        replies, _ = messages(conn)
        assert [sorted(r["data"]) for r in replies] == [
            ["key", "player_id", "request_size_max", "session"], ["games", "next", "sessions"]]


def test_a_move_with_state_on_a_subscribed_connection_is_not_pushed_again() -> None:
    with hosting() as host:
        _, ann, bob = two_players(host)
        conns = {}
        for player in (ann, bob):
            conns[player["player_id"]] = conn = MemoryConnection(host)
            conn.send(subscribe(player))
            messages(conn)
        for position in (0, 3, 1, 4):
            mover = mover_of(host, ann, bob)
            other = bob if mover is ann else ann
            conn = conns[mover["player_id"]]
            conn.send(frame({"type": "move", **ids(mover), "move": {"position": position},
                             "with_state": True}))
            host.run_soon()
            replies, pushes = messages(conn)
            assert replies[0]["state"]["board"][position] == mover["player_id"]
            assert pushes == {}
            assert [p["data"]["board"][position] for p in
                    messages(conns[other["player_id"]])[1][1]] == [mover["player_id"]]


def test_every_change_is_pushed_once_under_concurrent_moves() -> None:
    """Five chatters send pipelined messages; two subscribers see a growing chat, no repeat."""
    with hosting() as host:
        chatters = [MemoryConnection(host) for _ in range(5)]
        for chatter in chatters:
            chatter.send(frame({"type": "join", "game": "Chat", "session": "c", "players": 5,
                                "name": ""}))
        host.run_soon()
        players = [messages(chatter)[0][0]["data"] for chatter in chatters]
        chat = {"game": "Chat", "session": "c"}
        watchers = [MemoryConnection(host), MemoryConnection(host)]
        for watcher, player in zip(watchers, players[:2], strict=True):
            watcher.send(subscribe(player, game=chat))
        for chatter, player in zip(chatters, players, strict=True):
            chatter.send(move(player, chat, name=f"p{player['player_id']}"))
        seen: list[list[int]] = [[], []]
        for round_ in range(20):
            for chatter, player in zip(chatters, players, strict=True):
                chatter.send(move(player, chat, message=f"{round_}") * 3)  # 3 in one packet
            if round_ % 3 == 0:  # the loop comes round now and then: changes pile up
                host.run_soon()
                for number, watcher in enumerate(watchers):
                    seen[number] += [len(p["data"]["messages"]) for p in
                                     messages(watcher)[1].get(1, [])]
        host.run_soon()
        for number, watcher in enumerate(watchers):
            seen[number] += [len(p["data"]["messages"]) for p in messages(watcher)[1].get(1, [])]
            assert seen[number] == sorted(set(seen[number]))  # each state once, in order
            assert seen[number][-1] == 5 * 3 * 20  # the last shows every message


# ---------------------------------------------------------------- errors and the end


def test_an_error_ends_the_subscription_as_it_ends_a_waiting_state() -> None:
    with hosting() as host:
        _, ann, _ = two_players(host)
        conn = MemoryConnection(host)
        conn.send(subscribe(ann))
        messages(conn)
        MemoryConnection(host).send(join("t", 2))  # a new session replaces "t"
        host.run_soon()
        _, pushes = messages(conn)
        assert pushes == {1: [{"status": "error",
                               "message": "framework: game session was overwritten"}]}
        conn.send(frame({"type": "unsubscribe", "subscription": 1}))
        assert "no subscription 1" in messages(conn)[0][0]["message"]
        assert conn.state is State.READING  # the connection goes on


def test_closing_the_connection_ends_its_subscriptions() -> None:
    with hosting() as host:
        _, ann, bob = two_players(host)
        conn = MemoryConnection(host)
        conn.send(subscribe(ann) + subscribe(bob))
        messages(conn)
        session = host.lobby.sessions["TicTacToe", "t"]
        assert session.waiting == 2
        conn._eof()
        assert conn.state is State.CLOSED and session.waiting == 0


def test_a_classic_request_on_a_subscribed_connection_is_its_last() -> None:
    with hosting() as host:
        _, ann, _ = two_players(host)
        conn = MemoryConnection(host)
        conn.send(subscribe(ann))
        messages(conn)
        conn.send(frame({"type": "discover"}, keep_alive=False))
        assert conn.state is State.CLOSING  # the reply waits for the client to take it
        assert host.lobby.sessions["TicTacToe", "t"].waiting == 0


def test_shutting_down_pushes_the_reason_to_every_subscription_then_closes() -> None:
    with hosting() as host:
        _, ann, bob = two_players(host)
        conn = MemoryConnection(host)
        conn.send(subscribe(ann) + subscribe(bob))
        messages(conn)
        host.lobby.close()
        conn.shut_down(b'{"status": "error", "message": "server: server is shutting down"}')
        data = conn.take()
        *pushes, last = data.split(TERMINATOR)
        assert [json.loads(p)["push"] for p in pushes] == [1, 2]
        assert json.loads(last)["message"] == "server: server is shutting down"
        host.run_soon()  # the woken waits of the closed sessions find nobody
        assert conn.state is State.CLOSED


# ---------------------------------------------------------------- deadlines and flow control


def test_a_subscriber_is_not_idle_but_one_that_takes_nothing_is_closed() -> None:
    with hosting(reply_buffer_max=1_000) as host:
        _, ann, _ = two_players(host)
        conn = MemoryConnection(host)
        conn.send(subscribe(ann, game={"game": "TicTacToe", "session": "t"}))
        messages(conn)
        conn._timed_out()
        assert conn.state is State.READING and conn.deadline == 60.0  # waiting for pushes
        chat = MemoryConnection(host)
        chat.send(frame({"type": "join", "game": "Chat", "session": "c", "players": 1,
                         "name": ""}))
        me = messages(chat)[0][0]["data"]
        chat.send(move(me, {"game": "Chat", "session": "c"}, name="me"))
        conn.send(subscribe(me, game={"game": "Chat", "session": "c"}))
        chat.send(move(me, {"game": "Chat", "session": "c"}, message="x" * 2_000))
        host.run_soon()
        assert conn.paused_for_output  # never taken
        conn._timed_out()
        assert conn.state is State.CLOSING
        assert host.lobby.sessions["Chat", "c"].waiting == 0


def test_a_slow_subscriber_gets_the_newest_state_and_holds_a_bounded_buffer() -> None:
    """Pushes coalesce while the client does not read: memory stays bounded."""
    limit = 4_000
    with hosting(reply_buffer_max=limit) as host:
        chatter = MemoryConnection(host)
        chatter.send(frame({"type": "join", "game": "Chat", "session": "c", "players": 1,
                            "name": ""}))
        me = messages(chatter)[0][0]["data"]
        chat = {"game": "Chat", "session": "c"}
        chatter.send(move(me, chat, name="me"))
        slow = MemoryConnection(host)
        slow.send(subscribe(me, game=chat))
        host.run_soon()
        largest = 0
        for n in range(300):
            chatter.send(move(me, chat, message=f"message {n:04} " + "x" * 50))
            messages(chatter)
            host.run_soon()
            largest = max(largest, len(slow.unsent))
        one_state = len(slow.unsent[slow.unsent.rfind(b"EOT\x00", 0, len(slow.unsent) - 4):])
        # The kernel holds nothing here: what is not taken is the server's memory.
        assert largest <= limit + 2 * one_state
        session = host.lobby.sessions["Chat", "c"]
        assert session.waiting == 0  # a paused subscription waits for nothing
        _, pushes = messages(slow)  # the client reads at last
        host.run_soon()
        _, more = messages(slow)
        states = [len(p["data"]["messages"]) for p in pushes[1] + more.get(1, [])]
        assert states == sorted(set(states)) and states[-1] == 300
        assert len(states) < 100  # coalesced: far fewer pushes than changes
        assert session.waiting == 1  # armed again
