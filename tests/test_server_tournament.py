"""Tournaments through the real server: classic clients join tournament-NAME and play."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from game_server_api import GameServerAPI, GameServerError
from gameserver._tournament_games import BROKEN_STARTS
from gameserver.bot import Bot
from gameserver.results import outcome
from gameserver.tournament import TournamentError, TournamentSettings
from gameserver.tournament_hall import WRONG_PASSWORDS_PER_MINUTE
from gameserver.tournament_store import games_csv, standings_csv
from tests.serverproc import ServerProcess, ServerThread
from tests.web.play import wait_until
from tests.wire import TERMINATOR, request

TURN = 1.5  # seconds per move: plenty for a bot, and what the slow one exceeds
WAIT = 120.0  # seconds: only so that a broken test fails instead of hanging


class SlowBot(Bot):
    """Thinks longer than the turn timeout before every move: loses every game on time."""

    def turn(self, me: int, state: dict[str, Any]) -> None:
        if me in state["current"]:
            threading.Event().wait(2 * TURN)  # thinking, far too long
            super().turn(me, state)  # the game has ended meanwhile: the bot carries on


class VanishingBot(Bot):
    """Takes its seat in its first game, then its program stops: it never comes back."""

    def play_tournament(self) -> str:
        self.api.join()
        self.api.state()
        return "gone"


def player(server: ServerThread, name: str, kind: type[Bot] = Bot,
           tournament: str = "final") -> Bot:
    api = GameServerAPI("127.0.0.1", server.port, "TicTacToe", f"tournament-{tournament}",
                        name=name, keep_alive=True)
    return kind(api, "TicTacToe", 0, random.Random(name), restarter=False)


def run_all(bots: list[Bot]) -> dict[str, str]:
    """Let every bot take part; what each was told at the end (or its error)."""
    told: dict[str, str] = {}

    def run(bot: Bot) -> None:
        try:
            told[bot.api._name] = bot.play_tournament()
        except GameServerError as err:
            told[bot.api._name] = f"error: {err}"
        finally:
            bot.api.close()

    threads = [threading.Thread(target=run, args=(bot,), daemon=True) for bot in bots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(t.is_alive() for t in threads), "the tournament did not end"
    return told


def on_loop(server: ServerThread, func: Callable[[Any], Any]) -> Any:
    assert server.server is not None
    return server.call(func, server.server.hall)


def test_a_round_robin_of_six_goes_on_past_a_slow_and_a_vanished_participant(
        tmp_path: Path) -> None:
    with ServerThread(store=True, store_path=str(tmp_path / "store.sqlite3")) as server:
        on_loop(server, lambda hall: hall.create(TournamentSettings(
            "final", "TicTacToe", turn_timeout=TURN, start_with=6)))
        bots = [player(server, f"bot{i}") for i in range(4)]
        bots += [player(server, "slow", SlowBot), player(server, "gone", VanishingBot)]
        told = run_all(bots)
        tournament = on_loop(server, lambda hall: hall.tournament("final"))
        standings = on_loop(server, lambda hall: tournament.standings())
        assert on_loop(server, lambda hall: tournament.state) == "finished"
        assert len(tournament.rounds) == 5
        assert all(m.done(1) for r in tournament.rounds for m in r)
        rows = {row["name"]: row for row in standings}
        # The four bots beat the slow one (on time) and the vanished one.
        assert {row["name"] for row in standings[:4]} == {f"bot{i}" for i in range(4)}
        assert all(rows[f"bot{i}"]["points"] >= 2 for i in range(4))
        slow, gone = rows["slow"], rows["gone"]
        assert slow["lost_on_time"] >= 4 and not slow["withdrawn"] and slow["points"] <= 1
        assert gone["withdrawn"] and gone["lost_absent"] >= 1 and gone["points"] <= 1
        assert gone["lost_on_time"] >= 1  # the game it left in the middle
        for i in range(4):  # every client was told the end, and its place
            assert told[f"bot{i}"].startswith("framework: tournament final is over: "
                                              f"bot{i} placed ")
        assert "slow placed " in told["slow"]
        csv_text = on_loop(server, lambda hall: standings_csv(tournament))
        assert csv_text.splitlines()[0].startswith("place,name,points,")
        assert len(csv_text.splitlines()) == 7
        assert len(on_loop(server, lambda hall: games_csv(tournament)).splitlines()) == 16
        played = [g for r in tournament.rounds for m in r for g in m.games
                  if g.reason != "absent"]
        assert all(g.history_id > 0 for g in played)  # each in the history, for its replay


def test_a_name_belongs_to_its_registrant() -> None:
    with ServerThread() as server:
        on_loop(server, lambda hall: hall.create(TournamentSettings(
            "cup", "Nim", turn_timeout=30)))
        join = {"type": "join", "game": "Nim", "session": "tournament-cup", "players": None}
        waits = []
        for name in ("alice#tulip-42", "bob"):
            thread = threading.Thread(target=request, args=(server.port, {**join, "name": name}),
                                      daemon=True)
            thread.start()
            waits.append(thread)
        wait_until(lambda: on_loop(server, lambda hall: len(
            hall.tournament("cup").participants) == 2), "both registered")
        wrong = request(server.port, {**join, "name": "alice#guess"})
        assert "registered in tournament cup with a password" in wrong["message"]
        bare = request(server.port, {**join, "name": "alice"})
        assert "with a password" in bare["message"]
        other_game = request(server.port, {**join, "game": "TicTacToe", "name": "carl"})
        assert other_game["message"] == "framework: tournament cup plays Nim, not TicTacToe"
        no_name = request(server.port, {**join, "name": ""})
        assert "join with your name" in no_name["message"]
        reserved = request(server.port, {**join, "session": "tournament-cup/r1t1g1",
                                         "name": "x", "players": 2})
        assert "belong to the games of tournament cup" in reserved["message"]
        on_loop(server, lambda hall: hall.cancel("cup"))
        for thread in waits:
            thread.join(WAIT)
        over = request(server.port, {**join, "name": "bob"})
        assert over["message"] == "framework: tournament cup was cancelled by the operator"


def test_a_name_that_looks_like_a_registered_one_is_refused() -> None:
    """Until 2026-12-01 anyone could register "alice\\u200b" (a zero-width
    space) or a full-width "alice" beside "alice": each looked like her in the
    standings, on the dashboard and in the ratings."""
    with ServerThread() as server:
        on_loop(server, lambda hall: hall.create(TournamentSettings(
            "cup", "Nim", turn_timeout=30)))
        join = {"type": "join", "game": "Nim", "session": "tournament-cup", "players": None}
        first = threading.Thread(target=request, daemon=True,
                                 args=(server.port, {**join, "name": "alice#tulip-42"}))
        first.start()
        wait_until(lambda: on_loop(server, lambda hall: len(
            hall.tournament("cup").participants) == 1), "alice registered")
        for name in ("alice\u200b#mine", "\uff41lice", " alice", "al\u00adice"):
            message = request(server.port, {**join, "name": name})["message"]
            assert "looks like 'alice', registered already" in message, name
        message = request(server.port, {**join, "name": "\u3164#pw"})["message"]
        assert message == ("framework: the name '\\u3164' shows nothing (only invisible "
                           "characters or spaces); pick another name")
        assert on_loop(server, lambda hall: list(hall.tournament("cup").participants)) == [
            "alice"]
        on_loop(server, lambda hall: hall.cancel("cup"))
        first.join(WAIT)


def ask_from(server: ServerThread, source: str, data: dict[str, Any]) -> str:
    """One classic request from the client address ``source``: the reply's message."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT,
                                  source_address=(source, 0)) as sock:
        sock.sendall(json.dumps(data).encode() + TERMINATOR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return json.loads(reply).get("message", "ok")


def test_a_stale_script_repeating_a_wrong_password_never_locks_its_address_out() -> None:
    """Every wrong password counted against the 20 a minute of its address: a script still
    sending an old one (a student's, in a lab behind one NAT) kept the whole address at
    "too many wrong passwords" for as long as it ran, the right password refused with it
    (the dashboard's token already counted a repeat once). A repeat is no new guess now:
    refused as wrong, counted once. A guesser, trying new passwords, is stopped as before
    (and its right one refused unchecked, then), though told "wrong" for a repeat."""
    with ServerThread() as server:
        on_loop(server, lambda hall: hall.create(TournamentSettings(
            "cup", "Nim", turn_timeout=30, start_with=2)))
        on_loop(server, lambda hall: setattr(hall._guesses, "per_minute", 1e-9))  # no refill
        join = {"type": "join", "game": "Nim", "session": "tournament-cup", "players": None}
        seated = [threading.Thread(target=ask_from, args=(server, "127.0.0.1",
                                                          {**join, "name": name}), daemon=True)
                  for name in ("alice#tulip-42", "bob")]
        for thread in seated:
            thread.start()
        for thread in seated:
            thread.join(WAIT)  # (the first game started: both have their seats)
        wrong = "framework: the name alice is registered in tournament cup with a password"
        stale = {**join, "name": "alice#tulip-41"}
        for _ in range(3 * WRONG_PASSWORDS_PER_MINUTE):
            assert ask_from(server, "127.0.0.2", stale).startswith(wrong)
        assert ask_from(server, "127.0.0.2", {**join, "name": "alice#tulip-42"}) == "ok"
        told = [ask_from(server, "127.0.0.3", {**join, "name": f"alice#guess-{n}"})
                for n in range(WRONG_PASSWORDS_PER_MINUTE + 1)]
        assert all(t.startswith(wrong) for t in told[:-1])
        too_many = "framework: too many wrong passwords from your address; wait a minute"
        assert told[-1] == too_many
        assert ask_from(server, "127.0.0.3", {**join, "name": "alice#tulip-42"}) == too_many
        last = f"alice#guess-{WRONG_PASSWORDS_PER_MINUTE - 1}"  # its last one counted
        assert ask_from(server, "127.0.0.3", {**join, "name": last}).startswith(wrong)
        assert ask_from(server, "127.0.0.1", {**join, "name": "alice#tulip-42"}) == "ok"


class OneGameBot(Bot):
    """Plays its first game, then its program ends (the server goes down meanwhile)."""

    def play_tournament(self) -> str:
        me = self.api.join()
        state = self.api.state(legal_moves=True)
        while not state["gameover"]:
            self.turn(me, state)
            state = self.api.state(legal_moves=True)
        return "played one"


def test_a_tournament_and_its_running_game_survive_a_server_restart(tmp_path: Path) -> None:
    store = str(tmp_path / "store.sqlite3")
    settings = TournamentSettings("cup", "TicTacToe", best_of=3, turn_timeout=60,
                                  start_with=2)
    with ServerThread(store=True, store_path=store) as server:
        on_loop(server, lambda hall: hall.create(settings))
        run_all([player(server, "ann", OneGameBot, "cup"),
                 player(server, "bob", OneGameBot, "cup")])
        first = on_loop(server, lambda hall: hall.tournament("cup").rounds[0][0].games[0])
        running = on_loop(server, lambda hall: hall.tournament("cup").running_keys())
        assert first.history_id > 0 and running == ["r1t1g2"]
    with ServerThread(store=True, store_path=store) as server:
        tournament = on_loop(server, lambda hall: hall.tournament("cup"))
        assert on_loop(server, lambda hall: tournament.running_keys()) == ["r1t1g2"]
        assert on_loop(server, lambda hall: tournament.rounds[0][0].games[0]) == first
        told = run_all([player(server, "ann", Bot, "cup"), player(server, "bob", Bot, "cup")])
        assert all(" is over: " in words for words in told.values())
        games = on_loop(server, lambda hall: tournament.rounds[0][0].games)
        assert 2 <= len(games) <= 3 and all(g.history_id > 0 for g in games)
        assert on_loop(server, lambda hall: tournament.state) == "finished"


def test_a_tournament_of_a_game_in_a_worker_process(tmp_path: Path) -> None:
    games = str(Path(__file__).parent / "data" / "timer_games")
    with ServerThread(games_dirs=[games], isolate_games="folder") as server:
        on_loop(server, lambda hall: hall.create(TournamentSettings(
            "talks", "Talk", turn_timeout=10, start_with=2, best_of=2)))
        bots = []
        for name in ("ann", "bob"):
            api = GameServerAPI("127.0.0.1", server.port, "Talk", "tournament-talks",
                                name=name, keep_alive=True)
            bots.append(Bot(api, "Talk", 0, random.Random(name), restarter=False))
        told = run_all(bots)
        assert all(" is over: " in words for words in told.values())
        games = on_loop(server, lambda hall: hall.tournament("talks").rounds[0][0].games)
        assert [g.reason for g in games] == ["played", "played"]  # Talk: always a draw
        assert [g.points for g in games] == [(0.5, 0.5), (0.5, 0.5)]


def test_nobody_can_make_a_tournament_game_before_the_tournament_exists() -> None:
    """A session made as 'tournament-final/r1t1g1' beforehand would be taken for that game,
    with the keys of its maker: such names are the tournaments' only."""
    with ServerThread() as server:
        for name in ("tournament-final/r1t1g1", "tournament-x/anything"):
            made = request(server.port, {"type": "join", "game": "TicTacToe", "session": name,
                                         "players": 2, "name": "alice"})
            assert made["status"] == "error"
            assert "reserved for the games of tournaments" in made["message"]
        ordinary = {"type": "join", "game": "Echo", "session": "tournament-final",
                    "players": 1, "name": "solo"}
        assert request(server.port, ordinary)["status"] == "ok"  # no tournament: a name



def test_a_password_never_reaches_an_ordinary_session_of_a_tournament_name() -> None:
    """Before the operator creates tournament 'final' (or with its name mistyped),
    'tournament-final' is an ordinary session: a program that joined it early as
    'alice#tulip-42' was seated there under that name, which discovery (and the
    dashboard's lobby, the play page's open sessions, the history) showed to everyone,
    who could then register 'alice' with her password once the tournament existed."""
    with ServerThread() as server:
        replies: list[dict[str, Any]] = []
        first = threading.Thread(target=lambda: replies.append(request(server.port, {
            "type": "join", "game": "TicTacToe", "session": "tournament-final",
            "players": 2, "name": "alice#tulip-42"})), daemon=True)
        first.start()

        def listed() -> str:
            return json.dumps(request(server.port, {"type": "discover"})["data"]["sessions"])

        wait_until(lambda: replies or "tournament-final" in listed(), "the join answered")
        assert "tulip-42" not in listed()
        first.join(WAIT)
        assert replies[0]["status"] == "error"
        assert "there is no tournament final" in replies[0]["message"]
        assert "after '#'" in replies[0]["message"]
        on_loop(server, lambda hall: hall.create(TournamentSettings(
            "final", "TicTacToe", turn_timeout=30)))
        waiting = threading.Thread(target=request, args=(server.port, {
            "type": "join", "game": "TicTacToe", "session": "tournament-final",
            "players": None, "name": "alice#tulip-42"}), daemon=True)
        waiting.start()  # now the tournament's: she registers, the name shown is 'alice'
        wait_until(lambda: on_loop(server, lambda hall: list(
            hall.tournament("final").participants) == ["alice"]), "alice registered")
        on_loop(server, lambda hall: hall.cancel("final"))
        waiting.join(WAIT)


def test_a_name_that_is_no_text_is_refused_and_the_standings_export_works() -> None:
    """A name with a lone surrogate (the JSON escape \\ud800) was registered; then the
    dashboard's standings.csv and games.csv failed with 500 (UTF-8 cannot hold it), for
    the whole tournament, and the history and ratings commands could not print it."""
    from tests.web import play
    from tests.wire import TERMINATOR, send_raw

    server = play.web_server()
    try:
        on_loop(server, lambda hall: hall.create(TournamentSettings(
            "cup", "Nim", turn_timeout=30)))
        for session in ("tournament-cup", "ordinary"):
            raw = (b'{"type": "join", "game": "Nim", "session": "' + session.encode()
                   + b'", "players": 2, "name": "\\ud800evil"}' + TERMINATOR)
            reply = json.loads(send_raw(server.port, raw))
            assert reply["status"] == "error"
            assert "player name is not valid text" in reply["message"]
        assert on_loop(server, lambda hall: list(hall.tournament("cup").participants)) == []
        for export in ("standings.csv", "games.csv"):
            with urllib.request.urlopen(f"http://127.0.0.1:{play.dashboard_port(server)}"
                                        f"/api/tournaments/cup/{export}") as reply:
                assert reply.status == 200
    finally:
        server.stop()

class PushBot(Bot):
    """Plays its games through push (``states()``) and moves with state, not ``state()``."""

    def play_tournament(self) -> str:
        while True:
            try:
                me = self.api.join()
            except GameServerError as err:
                if " is over" in str(err):
                    return str(err)
                raise
            for state in self.api.states(legal_moves=True):
                if state["gameover"]:
                    self.results.append(state)
                    break
                self.turn(me, state)


def test_participants_may_play_through_push() -> None:
    with ServerThread() as server:
        on_loop(server, lambda hall: hall.create(TournamentSettings(
            "pushed", "TicTacToe", turn_timeout=30, start_with=2)))
        bots = [player(server, name, PushBot, tournament="pushed") for name in ("ann", "bob")]
        told = run_all(bots)
        assert all(text.startswith("framework: tournament pushed is over") for text in
                   told.values()), told
        assert all(len(bot.results) >= 1 for bot in bots)


ENDLESS = str(Path(__file__).parent / "data" / "endless_games")


def test_a_game_that_never_ends_is_a_draw_at_the_move_limit_and_the_tournament_ends(
        tmp_path: Path) -> None:
    """Such a tournament once ended only with a game_clock: without, it ran forever."""
    for isolate in ("off", "folder"):  # in the server, and in a worker process
        with ServerThread(games_dirs=[ENDLESS], isolate_games=isolate, store=True,
                          store_path=str(tmp_path / f"{isolate}.sqlite3")) as server:
            on_loop(server, lambda hall: hall.create(TournamentSettings(
                "loop", "Endless", turn_timeout=10, start_with=2, best_of=2, max_moves=30)))
            bots = [Bot(GameServerAPI("127.0.0.1", server.port, "Endless", "tournament-loop",
                                      name=name, keep_alive=True),
                        "Endless", 0, random.Random(name), restarter=False)
                    for name in ("ann", "bob")]
            told = run_all(bots)
            assert all(" is over: " in words for words in told.values()), told
            games = on_loop(server, lambda hall: hall.tournament("loop").rounds[0][0].games)
            assert [(g.reason, g.points) for g in games] == [("limit", (0.5, 0.5))] * 2
            assert [bot.moves for bot in bots] == [30, 30]  # 15 each per game, not one more
            final = bots[0].results[-1]
            assert final["count"] == 30 and final["forfeit"]["players"] == []
            assert "within 30 moves" in final["forfeit"]["reason"]
            assert server.server is not None and server.server.history is not None
            wait_until(lambda: len(server.server.history.finished_games("Endless")) == 2,
                       "the games in the history")
            for game in server.server.history.finished_games("Endless"):  # draws there too
                assert outcome(game)["kind"] == "draw", game


def test_a_saved_tournament_this_version_cannot_read_leaves_the_server_starting(
        tmp_path: Path) -> None:
    """Rows a newer version wrote (a setting this one does not know) or damaged ones
    (not JSON, wrong types, a value no tournament may have: a turn_timeout of -1 s lost
    every game on time at once): the server did not start, with a traceback. Now each such
    tournament or event is left out with a line in the log, its rows stay in the file,
    its name stays taken (a new tournament of that name would have failed every save
    after it, its row colliding with the old one), and the readable ones come back."""
    store = tmp_path / "store.sqlite3"
    with ServerThread(store=True, store_path=str(store)) as server:
        on_loop(server, lambda hall: hall.create(TournamentSettings("cup", "TicTacToe")))
    settings = json.dumps({"name": "newer", "game": "TicTacToe", "handicap": 3})
    with contextlib.closing(sqlite3.connect(store)) as db, db:
        db.execute("INSERT INTO tournaments VALUES ('newer', ?, 0, 'salt')", (settings,))
        db.execute("INSERT INTO tournaments VALUES ('typo', '{\"name\": ', 0, 'salt')")
        db.execute("INSERT INTO tournaments VALUES ('odd', ?, 0, 'salt')", (json.dumps(
            {"name": "odd", "game": "TicTacToe", "best_of": "three"}),))
        db.execute("INSERT INTO tournaments VALUES ('silly', ?, 0, 'salt')", (json.dumps(
            {"name": "silly", "game": "TicTacToe", "turn_timeout": -1.0}),))  # right type
        for seq, name in ((1, "ann"), (2, "bob")):
            db.execute("INSERT INTO tournament_events VALUES ('cup', ?, 0, 'register', ?)",
                       (seq, json.dumps({"name": name})))
        db.execute("INSERT INTO tournament_events VALUES ('cup', 3, 0, 'register', '{bad')")
    with ServerProcess("--store-path", str(store), "--no-web") as server:
        assert "restored 1 tournament(s)" in server.log
        assert "Traceback" not in server.log
        for name in ("newer", "typo", "odd", "silly"):
            assert f"tournament {name}: its saved settings cannot be read (" in server.log
        assert "tournament cup: saved event 3 (register) skipped: " in server.log
    with ServerThread(store=True, store_path=str(store)) as server:
        names = on_loop(server, lambda hall: list(hall.tournament("cup").participants))
        assert names == ["ann", "bob"]
        with pytest.raises(TournamentError, match="tournament newer is saved in the store"):
            on_loop(server, lambda hall: hall.create(TournamentSettings("newer", "TicTacToe")))
        on_loop(server, lambda hall: hall.start("cup"))  # its event follows the bad one's
        assert server.server is not None and server.server.store is not None
        assert server.call(server.server.store.health)["status"] == "ok"
    with contextlib.closing(sqlite3.connect(store)) as db:
        assert db.execute("SELECT seq, kind FROM tournament_events WHERE tournament = 'cup' "
                          "ORDER BY seq").fetchall()[-1] == (4, "start")


def test_a_tournament_join_waits_past_the_clients_wait_max(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A tournament holds each join until its participant's next game, for as long as
    registration or a round takes (a round waits for its slowest game: up to max_moves
    turns of turn_timeout, hours with the defaults); only the tournament's end or a
    cancel ends it. The client's WAIT_MAX (an hour) ended such a join with an error, and
    the program of tournaments.md stops at it: its participant lost every game after."""
    import game_server_api
    monkeypatch.setattr(game_server_api, "WAIT_MAX", 0.3)  # (an hour: shortened here)
    with ServerThread() as server:
        on_loop(server, lambda hall: hall.create(TournamentSettings("cup", "TicTacToe")))
        seats: dict[str, Any] = {}

        def take_part(name: str) -> None:
            api = GameServerAPI("127.0.0.1", server.port, "TicTacToe", "tournament-cup",
                                name=name)
            try:
                seats[name] = api.join()
            except GameServerError as err:
                seats[name] = err
            finally:
                api.close()

        threads = [threading.Thread(target=take_part, args=(name,), daemon=True)
                   for name in ("ann", "bob")]
        for thread in threads:
            thread.start()
        wait_until(lambda: len(on_loop(server, lambda hall: hall.tournament(
            "cup").participants)) == 2, "both to register")
        threading.Event().wait(3 * game_server_api.WAIT_MAX)  # the start: past WAIT_MAX
        on_loop(server, lambda hall: hall.start("cup"))
        for thread in threads:
            thread.join(WAIT)
        assert sorted(seats.values(), key=str) == [0, 1], seats


BROKEN = """
from gameserver.games.tictactoe import TicTacToe


class Broken(TicTacToe):
    def __init__(self, players):
        raise RuntimeError("broken on purpose")
"""


def test_a_tournament_whose_game_cannot_be_started_is_stopped_with_one_reason(
        tmp_path: Path) -> None:
    """Every game of it failed and was voided, all at the start, on the event loop (a
    round robin of 1,000: 499,500 games, about 30 s). Now a few games in a row that
    cannot be made stop it: every participant, and the next server, says why."""
    games = tmp_path / "games"
    games.mkdir()
    (games / "broken.py").write_text(BROKEN)
    store = str(tmp_path / "store.sqlite3")
    options: dict[str, Any] = {"games_dirs": [str(games)], "isolate_games": "off",
                               "store": True, "store_path": store}
    names = [f"p{n}" for n in range(12)]  # a round robin of 66 games
    join = {"type": "join", "game": "Broken", "session": "tournament-cup", "players": None}
    with ServerThread(**options) as server:
        on_loop(server, lambda hall: hall.create(TournamentSettings(
            "cup", "Broken", turn_timeout=30, start_with=len(names))))
        told: dict[str, dict[str, Any]] = {}
        threads = [threading.Thread(target=lambda n=name: told.__setitem__(
            n, request(server.port, {**join, "name": n})), daemon=True) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        tournament = on_loop(server, lambda hall: hall.tournament("cup"))
        assert on_loop(server, lambda hall: tournament.state) == "cancelled"
        voided = [g for r in tournament.rounds for m in r for g in m.games]
        assert len(voided) == BROKEN_STARTS and {g.reason for g in voided} == {"void"}
        why = ("framework: tournament cup was stopped: its game Broken could not be started "
               f"{BROKEN_STARTS} times in a row (framework: game Broken: __init__() raised "
               "RuntimeError: broken on purpose")
        assert sorted(told) == sorted(names)
        assert all(reply["message"].startswith(why) for reply in told.values())
        described = on_loop(server, lambda hall: tournament.describe())
        assert described["stopped_because"].startswith("its game Broken could not be started")
    with ServerThread(**options) as again:  # the reason is saved with the stop
        assert request(again.port, {**join, "name": "p0"})["message"].startswith(why)


QUICK = '''
from gameserver.game import AbstractGame


class Quick(AbstractGame):
    """The first to move wins (player 0)."""

    def __init__(self, players):
        self.winner = None

    @staticmethod
    def min_players():
        return LOW

    @staticmethod
    def max_players():
        return HIGH

    def current_player(self):
        return [] if self.winner is not None else 0

    def move(self, move, player_id):
        self.winner = player_id

    def game_over(self):
        return self.winner is not None

    def state(self, player_id):
        return {"winner": self.winner}
'''


def quick_game(games: Path, low: int, high: int) -> None:
    (games / "quick.py").write_text(QUICK.replace("LOW", str(low)).replace("HIGH", str(high)))


def join_both(server: ServerThread) -> dict[str, dict[str, Any]]:
    """ann and bob join tournament-cup of Quick; their replies, once their game starts."""
    told: dict[str, dict[str, Any]] = {}
    threads = [threading.Thread(target=lambda n=name: told.__setitem__(n, request(
        server.port, {"type": "join", "game": "Quick", "session": "tournament-cup",
                      "players": None, "name": n})), daemon=True) for name in ("ann", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    return told


def first_move(server: ServerThread, told: dict[str, dict[str, Any]]) -> None:
    """Player 0 of the running game moves, and wins it."""
    seat = next(reply["data"] for reply in told.values() if reply["data"]["player_id"] == 0)
    moved = request(server.port, {"type": "move", "game": "Quick", "session": "tournament-cup",
                                  "player_id": 0, "key": seat["key"], "move": {}})
    assert moved == {"status": "ok", "data": None}


BECAUSE = ("its game's file changed while the tournament ran: Quick is played by 3 to 4 "
           "players, not 2; the operator may create the tournament again with a game for two")
STOPPED = f"framework: tournament cup was stopped: {BECAUSE}"


def test_a_games_file_edited_while_its_tournament_runs_stops_it_with_the_reason(
        tmp_path: Path) -> None:
    """The file of a game in a worker process now says 3 to 4 players; a new worker
    imports it (the old one died). The server went on with the range of its start: the
    tournament kept making games for two of a game for three (which the next start of
    the server dropped), and joins for two were accepted. Now the range follows the
    file, and the tournament stops at its next game, saying why; the game that was
    running when the file changed ends and counts, and no game is voided for it."""
    games = tmp_path / "games"
    games.mkdir()
    quick_game(games, 2, 2)
    with ServerThread(games_dirs=[str(games)], isolate_games="folder") as server:
        on_loop(server, lambda hall: hall.create(TournamentSettings(
            "cup", "Quick", best_of=2, turn_timeout=30, start_with=2)))
        told = join_both(server)
        assert {reply["status"] for reply in told.values()} == {"ok"}
        quick_game(games, 3, 4)
        game_type = server.call(lambda: server.server.lobby.game_types["Quick"])
        pid = server.call(lambda: game_type.worker.pid)
        os.kill(pid, signal.SIGKILL)  # (a worker dies: an OOM kill, a game that crashed it)
        wait_until(lambda: server.call(game_type.player_range) == (3, 4), "the new range")
        first_move(server, told)
        tournament = on_loop(server, lambda hall: hall.tournament("cup"))
        wait_until(lambda: on_loop(server, lambda hall: tournament.state) == "cancelled",
                   "the stop")
        assert on_loop(server, lambda hall: tournament.stopped_because) == BECAUSE
        games_played = on_loop(server, lambda hall: [
            (g.reason, g.points) for r in tournament.rounds for m in r for g in m.games])
        assert games_played == [("played", (1.0, 0.0))]
        again = join_both(server)
        assert {reply["message"].partition(" (")[0] for reply in again.values()} == {STOPPED}
        refused = request(server.port, {"type": "join", "game": "Quick", "session": "s",
                                        "players": 2, "name": ""})
        assert refused["message"] == ("framework: invalid number of players: Quick is "
                                      "played by 3 to 4 players, not 2")


def test_a_games_file_edited_before_a_restart_stops_the_tournament(tmp_path: Path) -> None:
    """The same across a restart of the server (a game in the server's process): the
    saved running game of a changed range is dropped (``store._restore``), and the
    tournament made a new one, for two, of a game for three."""
    games, options = played_one_game(tmp_path)
    quick_game(games, 3, 4)
    with ServerThread(**options) as server:
        tournament = on_loop(server, lambda hall: hall.tournament("cup"))
        assert on_loop(server, lambda hall: tournament.state) == "cancelled"
        assert on_loop(server, lambda hall: tournament.stopped_because) == BECAUSE
        assert on_loop(server, lambda hall: [
            g.reason for r in tournament.rounds for m in r for g in m.games]) == ["played"]


def test_a_tournament_whose_game_is_gone_at_a_restart_is_held_until_it_is_back(
        tmp_path: Path) -> None:
    """Its game's file removed (or with an error) at a restart was a KeyError that stopped
    the server's start. The tournament is not stopped for good (a typo must not end it):
    it is held, a participant's join says why at once, and a later start of the server
    with the file back goes on with the game that was due."""
    games, options = played_one_game(tmp_path)
    (games / "quick.py").unlink()
    with ServerThread(**options) as server:
        tournament = on_loop(server, lambda hall: hall.tournament("cup"))
        assert on_loop(server, lambda hall: tournament.state) == "running"
        told = request(server.port, {"type": "join", "game": "Quick", "name": "ann",
                                     "session": "tournament-cup", "players": None})
        assert told["message"].startswith(
            "framework: tournament cup is held: its game Quick is not offered by this "
            "server now (its file was removed, or does not load); it goes on once")
    quick_game(games, 2, 2)
    with ServerThread(**options) as server:
        first_move(server, join_both(server))  # game 2, made anew (its saved one was dropped)
        tournament = on_loop(server, lambda hall: hall.tournament("cup"))
        wait_until(lambda: on_loop(server, lambda hall: tournament.state) == "finished",
                   "the end")
        assert on_loop(server, lambda hall: [
            g.reason for r in tournament.rounds for m in r for g in m.games]) == [
            "played", "played"]


def played_one_game(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A server with a store plays game 1 of tournament cup (Quick, best of 2) and stops
    while game 2 runs; the games folder and the server's options."""
    games = tmp_path / "games"
    games.mkdir()
    quick_game(games, 2, 2)
    options: dict[str, Any] = {"games_dirs": [str(games)], "isolate_games": "off",
                               "store": True, "store_path": str(tmp_path / "store.sqlite3")}
    with ServerThread(**options) as server:
        on_loop(server, lambda hall: hall.create(TournamentSettings(
            "cup", "Quick", best_of=2, turn_timeout=30, start_with=2)))
        first_move(server, join_both(server))  # game 1 counts; game 2 runs
        running = on_loop(server, lambda hall: hall.tournament("cup").running_keys())
        assert running == ["r1t1g2"]
    return games, options


def late_game(games: Path) -> None:
    """Late: Quick, for two, whose final state waits while the file "hold" is there. Its
    states are too large to come along with a move (``_channel.MIRROR_MAX``): they are
    fetched when needed, and the result is read after the last move's reply."""
    (games / "late.py").write_text(QUICK.replace("LOW", "2").replace("HIGH", "2").replace(
        "class Quick", "import os\nimport time\n\nclass Late").replace(
        "        return {\"winner\": self.winner}",
        "        while self.winner is not None and os.path.exists(\n"
        "                os.path.join(os.path.dirname(__file__), \"hold\")):\n"
        "            time.sleep(0.01)\n"
        "        return {\"winner\": self.winner, \"pad\": \"x\" * 70000}"))


def test_a_game_that_ends_as_the_server_stops_counts_at_the_next_start(
        tmp_path: Path) -> None:
    """A game in a worker process ends; while its result is read from the worker, the
    server stops. The stop marks the worker as unusable, as a broken one is: the read
    failed, and the game, won, was recorded void for good. It is the next start's to
    read now (the game's saved copy comes back, and its result is read then)."""
    games = tmp_path / "games"
    games.mkdir()
    late_game(games)
    (games / "hold").touch()
    options: dict[str, Any] = {"games_dirs": [str(games)], "isolate_games": "folder",
                               "store": True, "store_path": str(tmp_path / "store.sqlite3"),
                               "game_call_timeout": WAIT}
    join = {"type": "join", "game": "Late", "session": "tournament-cup", "players": None}
    with ServerThread(**options) as server:
        on_loop(server, lambda hall: hall.create(TournamentSettings(
            "cup", "Late", turn_timeout=WAIT, start_with=2)))
        told: dict[str, dict[str, Any]] = {}
        threads = [threading.Thread(target=lambda n=name: told.__setitem__(n, request(
            server.port, {**join, "name": n}))) for name in ("ann", "bob")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        winner, seat = next((name, reply["data"]) for name, reply in told.items()
                            if reply["data"]["player_id"] == 0)
        moved = request(server.port, {"type": "move", "game": "Late", "player_id": 0,
                                      "session": "tournament-cup", "key": seat["key"],
                                      "move": {}})
        assert moved == {"status": "ok", "data": None}
        worker = server.call(lambda: server.server.lobby.game_types["Late"].worker)
        wait_until(lambda: server.call(lambda: len(worker._queue)) > 0, "the result asked")
    (games / "hold").unlink()
    with ServerThread(**options) as server:
        tournament = on_loop(server, lambda hall: hall.tournament("cup"))
        wait_until(lambda: on_loop(server, lambda hall: tournament.state) == "finished",
                   "the result")
        played = on_loop(server, lambda hall: [
            (g.reason, g.seats, g.points) for r in tournament.rounds for m in r
            for g in m.games])
        assert len(played) == 1 and played[0][0] == "played"
        assert played[0][2][played[0][1].index(winner)] == 1.0


def cup_of_four(server: ServerThread) -> tuple[Any, dict[str, Any]]:
    """Tournament cup of Quick, begun by four players: its first two games run. The
    tournament, and the join request of its players (without a name)."""
    on_loop(server, lambda hall: hall.create(TournamentSettings(
        "cup", "Quick", turn_timeout=WAIT, start_with=4)))
    join = {"type": "join", "game": "Quick", "session": "tournament-cup", "players": None}
    threads = [threading.Thread(target=request, args=(server.port, {**join, "name": n}))
               for n in ("ann", "bob", "cyd", "dan")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    tournament = on_loop(server, lambda hall: hall.tournament("cup"))
    assert on_loop(server, lambda hall: tournament.running_keys()) == ["r1t1g1", "r1t2g1"]
    return tournament, join


@pytest.mark.parametrize("breaks", ["removed", "dies importing"])
def test_a_broken_worker_voids_its_running_games_once_and_holds_the_tournament(
        breaks: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The worker process of a tournament's game is replaced, and its file now lacks the
    game (removed, or with an error), or kills every new worker that imports it (then
    the worker is broken, after a few tries): its two running games are lost. They were
    voided one log line each, and the games started next failed at once and were
    voided in turn, tick after tick, until every game was void and the tournament
    "finished". Now the running ones count void together, in one line that says why,
    and the tournament is held (as when its game is not offered) until the server
    starts again with a file that loads."""
    games = tmp_path / "games"
    games.mkdir()
    quick_game(games, 2, 2)
    with ServerThread(games_dirs=[str(games)], isolate_games="folder") as server:
        tournament, join = cup_of_four(server)
        if breaks == "removed":
            (games / "quick.py").unlink()
        else:
            (games / "quick.py").write_text("import os\nos._exit(3)\n")
        game_type = server.call(lambda: server.server.lobby.game_types["Quick"])
        os.kill(server.call(lambda: game_type.worker.pid), signal.SIGKILL)
        wait_until(lambda: server.call(lambda: game_type.unavailable), "the worker's loss",
                   WAIT)

        def played() -> list[str]:
            return on_loop(server, lambda hall: [
                g.reason for r in tournament.rounds for m in r for g in m.games])

        wait_until(lambda: len(played()) == 2, "the lost games counted")
        for _ in range(3):  # (where the games started next were voided, one tick each)
            server.call(server.server.lobby.tick)
        assert played() == ["void", "void"]
        assert on_loop(server, lambda hall: tournament.state) == "running"
        told = request(server.port, {**join, "name": "ann"})
        assert told["message"].startswith(
            "framework: tournament cup is held: its game Quick cannot be played now "
            "(its file ")
        assert told["message"].endswith(
            # (the file lacks the game: a later worker may find it again; the worker is
            # broken: only a restart of the server starts one)
            "; it goes on once the game is back in its file: as soon as a new worker "
            "process of the file reads it (one starts whenever the running one ends), or "
            "at the next start of the server" if breaks == "removed" else
            "; it goes on once the operator fixes the game and starts the server again")
    voided = [r.getMessage() for r in caplog.records if r.name == "gameserver.tournament"
              and ("void" in r.getMessage() or "without a result" in r.getMessage())]
    assert len(voided) == 1, voided
    assert voided[0].startswith("tournament cup: 2 running game(s) count void (r1t1g1, "
                                "r1t2g1): its game Quick cannot be played now (its file ")


def test_a_tournament_held_for_a_game_its_file_lost_goes_on_once_the_file_has_it_again(
        tmp_path: Path) -> None:
    """A replacement worker finds its file without the tournament's game (edited while the
    server runs): the running games count void and the tournament is held. A later
    replacement finds the game again (the file fixed): the game may be played again, and
    requests are no longer told "held", so the tournament must go on. It did not: nothing
    started its next games until a restart of the server, and the players' joins waited
    for games that never started."""
    games = tmp_path / "games"
    games.mkdir()
    quick_game(games, 2, 2)
    with ServerThread(games_dirs=[str(games)], isolate_games="folder") as server:
        tournament, join = cup_of_four(server)
        game_type = server.call(lambda: server.server.lobby.game_types["Quick"])
        fixed = (games / "quick.py").read_text()
        (games / "quick.py").write_text(fixed.replace("class Quick", "class Other"))
        os.kill(server.call(lambda: game_type.worker.pid), signal.SIGKILL)
        wait_until(lambda: server.call(lambda: game_type.unavailable)
                   == "its file no longer defines it", "the game's loss", WAIT)

        def played() -> list[str]:
            return on_loop(server, lambda hall: [
                g.reason for r in tournament.rounds for m in r for g in m.games])

        wait_until(lambda: len(played()) == 2, "the lost games counted")
        # It said it went on once the operator "starts the server again": not only.
        assert request(server.port, {**join, "name": "ann"})["message"] == (
            "framework: tournament cup is held: its game Quick cannot be played now (its "
            "file no longer defines it); it goes on once the game is back in its file: as "
            "soon as a new worker process of the file reads it (one starts whenever the "
            "running one ends), or at the next start of the server")
        assert on_loop(server, lambda hall: list(hall.entries["cup"].games)) == []
        (games / "quick.py").write_text(fixed)
        os.kill(server.call(lambda: game_type.worker.pid), signal.SIGKILL)
        wait_until(lambda: server.call(lambda: game_type.unavailable) is None,
                   "the game found again", WAIT)
        server.call(server.server.lobby.tick)
        assert on_loop(server, lambda hall: sorted(hall.entries["cup"].games)) == [
            "r2t1g1", "r2t2g1"], "the tournament did not go on"
        assert request(server.port, {**join, "name": "ann"})["status"] == "ok"


def test_the_tournaments_past_those_kept_leave_the_store_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The oldest finished tournament deleted to make room leaves the store file as a
    deleted one does (its rows; its rated games stay rated), and a file that holds more
    than are kept (a server that kept more) has its oldest finished ones pruned as it
    starts; running or open ones are kept."""
    from gameserver import tournament_store
    store = tmp_path / "store.sqlite3"

    def names() -> list[str]:
        with contextlib.closing(sqlite3.connect(store)) as db:
            return sorted(row[0] for row in db.execute("SELECT name FROM tournaments"))

    with ServerThread(store=True, store_path=str(store)) as server:
        for name in ("a", "b", "c", "d"):
            on_loop(server, lambda hall, name=name: hall.create(
                TournamentSettings(name, "TicTacToe")))
        for name in ("a", "b", "c"):
            on_loop(server, lambda hall, name=name: hall.cancel(name))
    assert names() == ["a", "b", "c", "d"]
    monkeypatch.setattr(tournament_store, "KEPT_MAX", 3)
    with ServerThread(store=True, store_path=str(store)) as server:
        assert sorted(on_loop(server, lambda hall: list(hall.entries))) == ["b", "c", "d"]
        on_loop(server, lambda hall: hall.create(TournamentSettings("e", "TicTacToe")))
        assert sorted(on_loop(server, lambda hall: list(hall.entries))) == ["c", "d", "e"]
    assert names() == ["c", "d", "e"]
    with contextlib.closing(sqlite3.connect(store)) as db:
        assert db.execute("SELECT DISTINCT tournament FROM tournament_events "
                          "ORDER BY tournament").fetchall() == [("c",)]  # (its cancel)
