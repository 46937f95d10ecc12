"""The benchmarks in bench/ run and report (smoke mode; no timing assertions).

Each benchmark runs as a user would run it, ``python bench/<name>.py
--smoke``, against its own real server subprocess. These tests only check
that it exits 0 and prints one parseable JSON record with the expected keys,
followed by a one-line summary: the numbers of a smoke run mean nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
# A hang guard, under the 300 s of every test: a smoke run takes a few seconds, a
# server's start (bench/_common.py's STARTUP_TIMEOUT) may take 120 s on a loaded vCPU.
TIMEOUT = 280

COMMON = {"benchmark", "smoke", "date", "nproc", "cpu", "python", "commit"}
PER_RUN = {"seconds", "requests", "server_cpu_us_per_request", "generator_cpu_s",
           "generator_cpu_pct", "listen_overflows", "other_cpu_pct"}


def run_smoke(script: str, *args: str, timeout: float = TIMEOUT) -> tuple[dict[str, Any], str]:
    done = subprocess.run([sys.executable, str(BENCH / script), "--smoke", *args],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout
    record = json.loads(lines[0])
    assert record["smoke"] is True
    assert lines[1].startswith(record["benchmark"])
    return record, lines[1]


def test_roundtrip_reports_both_modes() -> None:
    record, _ = run_smoke("roundtrip.py")
    assert COMMON <= record.keys()
    assert record["benchmark"] == "roundtrip"
    assert [run["mode"] for run in record["runs"]] == ["classic", "keepalive", "withstate",
                                                       "nowait"]
    for run in record["runs"]:
        assert PER_RUN | {"requests_per_s", "pairs_per_s", "latency_p50_ms",
                          "latency_p99_ms", "errors"} <= run.keys()
        assert run["requests"] > 0 and run["errors"] == 0
    assert "keepalive_speedup" in record and "withstate_steps_speedup" in record
    assert "nowait_steps_speedup" in record


def test_tictactoe_load_reports_every_level() -> None:
    record, _ = run_smoke("tictactoe_load.py")
    assert COMMON <= record.keys()
    assert record["benchmark"] == "tictactoe_load"
    assert record["runs"]
    for run in record["runs"]:
        assert PER_RUN | {"sessions", "moves_per_s", "games_per_s", "move_p50_ms",
                          "move_p99_ms", "notify_p50_ms", "notify_p99_ms", "errors",
                          "stalls"} <= run.keys()
        assert run["all_joined"] and run["moves"] > 0


def test_tictactoe_load_runs_with_keep_alive() -> None:
    record, _ = run_smoke("tictactoe_load.py", "--keep-alive")
    assert {run["mode"] for run in record["runs"]} == {"keepalive"}
    assert all(run["moves"] > 0 for run in record["runs"])


def test_tictactoe_load_runs_in_push_mode() -> None:
    record, _ = run_smoke("tictactoe_load.py", "--mode", "push")
    for run in record["runs"]:
        assert run["mode"] == "push" and run["moves"] > 0 and run["pushes"] > 0
        assert run["errors"] == 0 and run["server_cpu_us_per_move"] > 0


def test_floor_runs_each_server_it_can() -> None:
    """The I/O-only servers answer every move with a reply and a push; uvloop's runs
    where it is installed and is skipped, saying so, where it is not."""
    record, summary = run_smoke("floor.py")
    assert COMMON <= record.keys() and record["benchmark"] == "floor"
    modes = [run["mode"] for run in record["runs"]]
    try:
        import uvloop  # noqa: F401
        assert modes == ["raw", "transport", "uvloop"]
    except ImportError:
        assert modes == ["raw", "transport"] and "uvloop" in record["skipped"]
        assert "skipped: uvloop" in summary
    for run in record["runs"]:
        assert run["moves"] > 0 and run["server_cpu_us_per_move"] > 0, run


def test_peers_runs_ours_and_never_installs_in_smoke_mode() -> None:
    """The peers (Node) run only where already installed: CI installs no Node package."""
    installed = (BENCH / "peers" / "node_modules" / ".package-lock.json").exists()
    record, summary = run_smoke("peers.py")
    assert COMMON <= record.keys() and record["benchmark"] == "peers"
    servers = [run["server"] for run in record["runs"]]
    assert servers[:2] == ["ours push no-store", "ours push"]
    for run in record["runs"]:
        assert {"moves_per_s", "server_cpu_us_per_move", "generator_cpu_us_per_move",
                "server_rss_kb", "other_cpu_pct"} <= run.keys()
        assert run["moves"] > 0
    if record["peers_skipped"]:
        assert servers == ["ours push no-store", "ours push"]
        assert "peers skipped" in summary
    else:
        assert installed and set(servers[2:]) == {"colyseus", "boardgameio"}
    assert (BENCH / "peers" / "node_modules").exists() == installed  # nothing installed


def in_bench(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``code`` run by Python in bench/ (where the benchmarks import each other); a
    benchmark that hangs fails at the timeout."""
    return subprocess.run([sys.executable, "-c", code], cwd=BENCH, capture_output=True,
                          text=True, timeout=timeout)


def test_a_peer_that_prints_nothing_is_given_up_at_the_deadline() -> None:
    """A peer's server that neither prints nor exits: the wait for its "listening on"
    line ends at its deadline. (A blocking readline waited until the process ended.)"""
    done = in_bench("import sys, peers\n"
                    "peers.STARTUP_TIMEOUT = 0.2\n"
                    "try:\n"
                    "    peers.start_peer([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
                    "except RuntimeError as err:\n"
                    "    print(err)\n")
    assert done.returncode == 0, done.stderr
    assert "no 'listening on' line within 0.2 s (exit code None)" in done.stdout


def test_a_load_generator_that_floods_stderr_is_read_as_it_goes() -> None:
    """A peer's load generator that writes megabytes to stderr before its first line
    is not blocked on a full pipe (Node writes to pipes synchronously): its figures come,
    with the first lines it complained. (Stderr was read only at the end.)"""
    server = "print('listening on', flush=True); import time; time.sleep(600)"
    load = ("import sys; sys.stderr.write('illegal move\\n' * 200_000); sys.stderr.flush(); "
            "print('ready'); print('start', flush=True); import time; time.sleep(0.1); "
            "print('end 7 1', flush=True)")
    done = in_bench("import json, sys, peers\n"
                    f"record = peers.measure_peer('fake', [sys.executable, '-c', {server!r}], "
                    f"[sys.executable, '-c', {load!r}], 1, 0.1, 0.0)\n"
                    "print(json.dumps(record))\n")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert (record["moves"], record["games"]) == (7, 1)
    assert record["problems"] == ["illegal move"] * 3


def test_a_peers_generator_is_not_counted_among_the_others() -> None:
    """A peer's load generator is a process of its own, which the meter (knowing only
    the server and the benchmark's process) counted as "others": Colyseus' rows showed
    82-91 % others in every run, its generator's share. Ours runs in the benchmark's
    process, never among the others."""
    done = in_bench("import json, peers\n"
                    "figures = {'seconds': 2.0, 'server_cpu_s': 1.0, 'server_cpu_pct': 50.0,\n"
                    "           'other_cpu_pct': 93.0, 'steal_pct': 0.0}\n"
                    "peer = peers._figures('peer', 10, 1000, 100, figures, 1.7e6, 1, [])\n"
                    "ours = peers._figures('ours', 10, 1000, 100, figures, 1.7e6, 1, [],\n"
                    "                      generator_in_others=False)\n"
                    "print(json.dumps([peer, ours]))\n")
    assert done.returncode == 0, done.stderr
    peer, ours = json.loads(done.stdout)
    assert peer["generator_cpu_pct"] == ours["generator_cpu_pct"] == 85.0
    assert peer["other_cpu_pct"] == 8.0  # 93 % less the generator's 85 %
    assert ours["other_cpu_pct"] == 93.0


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_a_peers_window_begins_when_every_bot_plays_and_holds_a_move() -> None:
    """The peers' measured window (bench/peers/tictactoe.js) begins once every bot has
    its first state, and ends only once a move was counted. (It began when the bots had
    joined, before they played: on a loaded machine boardgame.io's bots connected after
    a smoke run's window, which counted no move, and the benchmark failed.)"""
    script = ("const { seated, moved, measure } = require('./peers/tictactoe.js');\n"
              "const log = console.log;\n"
              "console.log = (line) => {\n"
              "  log(line);\n"  # the window's 50 ms end comes first, then the move
              "  if (line !== 'start') return;\n"
              "  setTimeout(() => { log('a move'); moved(); moved(); }, 100);\n"
              "};\n"
              "measure(2, 0, 0.05);\n"  # two bots, no warm-up, a 50 ms window
              "seated();\n"
              "setTimeout(() => { log('both bots play'); seated(); }, 100);\n")
    done = subprocess.run(["node", "-e", script], cwd=BENCH, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["both bots play", "ready", "start", "a move", "end 1 0"]


# A hang guard only: each step of the next test is a few moves, well under a second.
PLAY_GUARD = 60.0


def test_tictactoe_load_push_players_play_on_after_their_connection_fails() -> None:
    """In push mode a player whose connection fails subscribes again on a new one,
    and sends again a move the failure lost (its view has seen the state it acted on:
    no push would bring it again). Before, such a player never subscribed again and its
    game stopped for good: first its connection is closed under it, then a move of its
    is lost before it is sent."""
    code = (
        "import json, socket, _common, tictactoe_load\n"
        "real_send = _common.Conn.send\n"
        "lose = []\n"
        "def send(self, payload, cb, keep_alive=False):\n"
        "    if lose and b'\"type\":\"move\"' in payload:\n"
        "        lose.pop()\n"
        "        self.close()\n"
        "        cb(None, 'send: lost by the test')\n"
        "        return\n"
        "    real_send(self, payload, cb, keep_alive)\n"
        "_common.Conn.send = send\n"
        "with _common.Server('--log-level', 'WARNING') as server:\n"
        "    bench = tictactoe_load.Bench(server, 1, 'push', 1, 1)\n"
        "    loop, stats = bench.loop, bench.stats\n"
        "    stats.on = True\n"
        "    for player in bench.players:\n"
        "        player.join()\n"
        f"    steps = [loop.run({PLAY_GUARD}, lambda: stats.moves >= 10)]\n"
        "    bench.players[0].conn.sock.shutdown(socket.SHUT_RDWR)\n"
        f"    steps.append(loop.run({PLAY_GUARD}, lambda: stats.moves >= 20))\n"
        "    lose.append(1)\n"
        f"    steps.append(loop.run({PLAY_GUARD}, lambda: stats.moves >= 30))\n"
        "    bench.stopping = True\n"
        "    loop.close()\n"
        "    print(json.dumps({'steps': steps, 'errors': sorted(stats.errors),\n"
        "                      'problems': server.problem_lines()}))\n")
    done = in_bench(code, TIMEOUT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["steps"] == [True, True, True], result
    # The closed connection fails the player's next read or its next send, whichever
    # comes first (the kernel's timing): either is one error.
    closed, lost = result["errors"]
    assert closed in ("connection closed by the server before the terminator",
                      "send: Broken pipe"), result
    assert lost == "send: lost by the test", result

# Hang guards only, past the smoke run's own limits (600 s for each of its waits: a
# server starting under valgrind, the joins, each window's first move): on a loaded
# machine (a load average of 25-30) the whole run passed 600 s while every step was within
# its own limit, and each such step ends the run with a message of its own.
CALLGRIND_RUN_MAX = 3600.0


@pytest.mark.timeout(CALLGRIND_RUN_MAX + 100)
def test_instructions_counts_ours_under_callgrind_or_says_why_not() -> None:
    """Where valgrind is installed, the smoke run counts our server's instructions per
    move (push, no store) and names its C work; where it is not, the workload is skipped,
    saying why. Colyseus is never run in smoke mode (Node starts for a minute under
    valgrind)."""
    # A Python server takes 15-40 s to start under valgrind on a busy machine, minutes on
    # a loaded one.
    record, summary = run_smoke("instructions.py", timeout=CALLGRIND_RUN_MAX)
    assert COMMON <= record.keys() and record["benchmark"] == "instructions"
    assert "smoke mode counts ours only" in record["skipped"]["colyseus"]
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        assert record["runs"] == []
        assert "valgrind" in record["skipped"]["ours push no-store"]
        assert "skipped: ours push no-store (valgrind" in summary
        return
    (run,) = record["runs"]
    assert run["workload"] == "ours push no-store" and run["errors"] == 0
    # A move is tens of thousands of instructions at least, nearly all on the main thread.
    # (The other threads' share is a difference of two windows too: near 0, it may come
    # out a few instructions below, so the total is not always at least the main thread's.)
    assert run["main_thread_per_move"] > 10_000
    assert abs(run["other_threads_per_move"]) < run["main_thread_per_move"] / 10
    assert run["instructions_per_move"] == pytest.approx(
        run["main_thread_per_move"] + run["other_threads_per_move"], abs=1)
    breakdown = run["breakdown"]
    assert breakdown["json encode (encoder_call, inclusive)"] > 0
    assert breakdown["eval loop (_PyEval_EvalFrameDefault, self)"] > 0
    assert breakdown["sqlite3 (libsqlite3 and _sqlite3, self)"] == 0  # no store
    assert [w["moves"] > 0 for w in run["windows"]] == [True, True]
    assert 0 < run["event_loop_polls_per_move"] < 10
    assert summary.startswith("instructions: ours push no-store K=2: ")


def test_instructions_reads_callgrinds_files() -> None:
    """Own and inclusive instructions per function from a file in callgrind's format:
    compressed names, recursion levels (``f'2``) counted as one function, a function's
    call of itself not added twice, code without a symbol as one entry per library and
    that of no library (V8's compiled code) as one, libraries by function."""
    text = ("version: 1\ncreator: callgrind-3.19.0\npositions: line\nevents: Ir\n"
            "summary: 1000\n\nob=(1) /lib/libpython3.11.so\nfl=(1) ceval.c\n"
            "fn=(1) _PyEval_EvalFrameDefault\n10 100\n+2 50\n"
            "cob=(2) /lib/_json.so\ncfi=(2) _json.c\ncfn=(2) encoder_call\ncalls=1 5\n"
            "12 300\n"
            "cfn=(3) _PyEval_EvalFrameDefault'2\ncalls=3 10\n* 400\n"
            "\nfn=(3)\n* 250\n"
            "\nob=(2)\nfl=(2)\nfn=(2)\n5 200\ncob=(1)\ncfn=(4) PyObject_Malloc\n"
            "calls=2 1\n6 100\n"
            "\nob=(1)\nfn=(4)\n1 100\n"
            "\nob=(3) ???\nfn=(5) 0x0000000012345678\n0 7\nfn=(6) 0x000000001234ffff\n0 3\n"
            "\nob=(1)\nfn=(7) 0x00000000000abcde\n0 5\n")
    done = in_bench("import json, pathlib, sys, tempfile, instructions\n"
                    "path = pathlib.Path(tempfile.mkdtemp()) / 'cg.1.1-01'\n"
                    f"path.write_text({text!r})\n"
                    "profile = instructions.Profile()\n"
                    "profile.add(path, 1)\n"
                    "print(json.dumps([profile.total, profile.threads, profile.own,\n"
                    "                  profile.inclusive, profile.breakdown(1),\n"
                    "                  profile.calls]))\n")
    assert done.returncode == 0, done.stderr
    total, threads, own, inclusive, breakdown, calls = json.loads(done.stdout)
    assert total == 100 + 50 + 250 + 200 + 100 + 7 + 3 + 5 and threads == {"1": total}
    assert own == {"_PyEval_EvalFrameDefault": 400, "encoder_call": 200,
                   "PyObject_Malloc": 100, "(JIT code, no symbol)": 10,
                   "(no symbol) libpython3.11.so": 5}
    # The eval loop: its own 400 and the call of encoder_call, not its call of itself.
    assert inclusive["_PyEval_EvalFrameDefault"] == 700
    assert inclusive["encoder_call"] == 300
    assert breakdown["json encode (encoder_call, inclusive)"] == 300
    assert breakdown["malloc/free (the allocators' own)"] == 100
    assert calls == {"encoder_call": 1, "_PyEval_EvalFrameDefault": 3, "PyObject_Malloc": 2}


def test_waiters_reports_memory_wakeups_and_disconnects() -> None:
    record, _ = run_smoke("waiters.py")
    assert COMMON <= record.keys()
    assert record["benchmark"] == "waiters"
    assert {"blocked_clients", "rss_kb", "fds", "rss_kb_per_client", "wake_p50_ms",
            "wake_p99_ms", "fanout_p99_ms", "disconnect_freed_ms", "errors",
            "spurious_wakeups", "wake_server_cpu_us_per_request"} <= record.keys()
    assert record["all_blocked"] and record["errors"] == 0


def test_a_benchmark_server_that_starts_slowly_is_waited_for() -> None:
    """A server that takes longer than 20 s to listen (a loaded vCPU: a start is ~0.25 s of
    CPU) is waited for: the smoke runs ended with "server did not start" at 20 s under
    load (test_waiters_reports_memory_wakeups_and_disconnects once; every run of waiters'
    niced by 5 beside four busy loops). Here the start is 21 s late, sleeping."""
    code = ("import _common\n"
            "wrapper = ['sh', '-c', 'sleep 21; exec \"$@\"', 'sh']\n"
            "with _common.Server('--log-level', 'WARNING', wrapper=wrapper) as server:\n"
            "    print(server.proc.poll() is None)\n")
    done = in_bench(code, TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "True\n"


def test_open_connections_counts_connected_tcp_sockets_not_listeners() -> None:
    """waiters.py waits for a server's connections to be gone: a listener that opened
    late (the dashboard's, on a loaded machine) once made it wait for ever."""
    sys.path.insert(0, str(BENCH))
    try:
        import _common
    finally:
        sys.path.remove(str(BENCH))
    before = _common.open_connections(os.getpid())
    with socket.create_server(("127.0.0.1", 0)) as listener:
        assert _common.open_connections(os.getpid()) == before
        with socket.create_connection(listener.getsockname()) as client:
            accepted, _ = listener.accept()
            with accepted:
                assert _common.open_connections(os.getpid()) == before + 2
                assert client.fileno() >= 0
    assert _common.open_connections(os.getpid()) == before


def test_tls_handshakes_reports_the_quiet_and_the_flooded_window() -> None:
    record, summary = run_smoke("tls_handshakes.py", "--threads", "2")
    assert COMMON <= record.keys()
    quiet, flooded = record["runs"]
    assert not quiet["flood"] and flooded["flood"]
    for run in (quiet, flooded):
        assert PER_RUN | {"latency_p50_ms", "latency_p99_ms", "errors"} <= run.keys()
        assert run["requests"] > 0 and run["errors"] == 0
    assert flooded["hellos_answered"] > 0 and flooded["server_cpu_us_per_hello"] > 0
    assert {"loop_thread_cpu_us_per_hello", "loop_thread_user_us_per_hello"} <= flooded.keys()
    assert summary.startswith("tls_handshakes: quiet p50")


def test_run_all_runs_every_benchmark() -> None:
    done = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--smoke",
                           "--only", "roundtrip"],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    combined = json.loads(lines[-2])
    assert [r["benchmark"] for r in combined["records"]] == ["roundtrip"]
    assert lines[-1].startswith("run_all: 1 of 1")


def test_rl_envs_reports_in_process_network_and_vector() -> None:
    record, summary = run_smoke("rl_envs.py")
    assert COMMON <= record.keys()
    assert record["benchmark"] == "rl_envs"
    inprocess = record["inprocess"]
    assert inprocess["best_steps_per_s"] > 0 and inprocess["ours"][0]["games"] > 0
    # PettingZoo's tictactoe_v3 ran in the same process, with the same policy.
    assert inprocess["pettingzoo_missing"] is None, inprocess["pettingzoo_missing"]
    assert inprocess["pettingzoo_best_steps_per_s"] > 0
    assert record["network"]["steps"] > 0 and record["network"]["games"] > 0
    assert "server_cpu_us_per_step" in record["network"]
    # Taking turns with PettingZoo: both played, the server's CPU counted for ours only.
    turns = record["network_interleaved_with_pettingzoo"]
    assert turns["network"]["steps"] > 0 and turns["pettingzoo"]["steps"] > 0
    assert turns["network"]["server_cpu_us_per_step"] > 0
    assert turns["pettingzoo"]["server_cpu_us_per_step"] == 0
    assert turns["ratio"] > 0 and "taking turns with PettingZoo" in summary
    assert record["vector"]["sessions"] == 16 and record["vector"]["steps"] >= 16
    assert record["server_log_problems"] == 0
    assert "vector env of 16 sessions, one connection" in summary


def test_dashboard_reports_each_phase() -> None:
    record, summary = run_smoke("dashboard.py")
    assert COMMON <= record.keys()
    assert record["benchmark"] == "dashboard" and record["sessions"] == 300
    assert set(record["phases"]) == {"idle", "pollers", "streams"}
    for run in record["runs"]:
        assert PER_RUN | {"latency_p50_ms", "latency_p99_ms", "errors"} <= run.keys()
        assert run["requests"] > 0 and run["errors"] == 0
    assert record["phases"]["pollers"]["poll_replies"] > 0
    assert record["phases"]["streams"]["stream_events"] > 0
    assert "x idle" in summary


def test_store_growth_reports_size_and_loop_time() -> None:
    record, _ = run_smoke("store_growth.py")
    assert COMMON <= record.keys()
    assert record["benchmark"] == "store_growth"
    for run in record["runs"]:
        assert {"messages", "message_bytes", "sent_bytes", "store_bytes", "largest_snapshot",
                "loop_per_move_p50_ms", "loop_per_move_p99_ms"} <= run.keys()
        assert run["loop_per_move_n"] == run["messages"]
        if run["store"]:
            assert 0 < run["store_bytes"]


def test_browsers_reports_both_phases() -> None:
    record, summary = run_smoke("browsers.py")
    assert COMMON <= record.keys()
    assert record["benchmark"] == "browsers" and record["players"] == 10
    assert [run["phase"] for run in record["runs"]] == ["idle", "browsers"]
    crowd = record["phases"]["browsers"]
    assert crowd["moves"] > 0 and crowd["states"] > 0 and crowd["spectator_events"] > 0
    assert record["errors"] == 0 and record["server_log_problems"] == 0
    assert record["rss_kb_start"] > 0 and crowd["rss_kb_connected_max"] > 0
    assert "x idle" in summary


def test_isolations_others_leave_out_the_games_worker() -> None:
    """The game's worker is a process of its own, which the meter counted among the
    others (24-34 % in every isolated run, its CPU also reported apart)."""
    done = in_bench("import isolation\n"
                    "print(isolation.others({'other_cpu_pct': 30.0, 'seconds': 2.0,\n"
                    "                        'worker_cpu_us': 0.5e6}),\n"
                    "      isolation.others({'other_cpu_pct': 10.0, 'seconds': 2.0,\n"
                    "                        'worker_cpu_us': 0.5e6}))\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["5.0", "0.0"]  # 30 % less the worker's 25 %; never < 0


def test_isolation_reports_both_servers_and_worker_memory() -> None:
    record, summary = run_smoke("isolation.py", "--cpus", "0")
    assert record["cpus"] == [0]  # pinned: see docs/performance.md, "what placement does"
    assert COMMON <= record.keys()
    assert record["benchmark"] == "isolation" and record["errors"] == 0
    assert {run["mode"] for run in record["runs"]} == {"in_process", "isolated"}
    for run in record["runs"]:
        assert {"server_cpu_us_per_change", "server_cpu_us_per_state", "move_p50_ms",
                "state_p50_ms", "worker_cpu_us_per_change", "worker_rss_kb"} <= run.keys()
        assert run["move_n"] > 0 and run["state_n"] > 0 and run["problems"] == 0
    isolated = next(run for run in record["runs"] if run["mode"] == "isolated")
    assert len(isolated["worker_rss_kb"]) == 1  # TicTacToe's worker, and no other
    assert record["worker_idle_rss_kb"] and "added per change" in summary


def test_isolation_plays_several_tables_at_once() -> None:
    """``--tables``: each table is a session of its own, every move of each one counted."""
    record, _ = run_smoke("isolation.py", "--cpus", "0", "--tables", "3")
    assert record["tables"] == 3 and record["errors"] == 0
    for run in record["runs"]:
        # A smoke run: 5 games per phase, shared as 1 game per table, 7 moves each.
        assert run["move_n"] == 2 * 3 * 1 * 7 and run["state_n"] == 3 * 1 * 7


def test_timers_reports_both_modes_and_the_cost_per_move() -> None:
    record, summary = run_smoke("timers.py")
    assert COMMON <= record.keys()
    assert record["benchmark"] == "timers"
    assert [run["mode"] for run in record["runs"]] == ["none", "timers"]
    for run in record["runs"]:
        assert PER_RUN <= run.keys()
        assert run["all_joined"] and run["moves"] > 0 and run["errors"] == 0
        assert run["server_log_problems"] == 0
    assert isinstance(record["timer_cost_us_per_move"], float)
    assert "timers cost" in summary


def test_wakeups_reports_each_placement() -> None:
    record, summary = run_smoke("wakeups.py")
    assert COMMON <= record.keys()
    placements = ["same_cpu", "unpinned"] + (["two_cpus"] if len(os.sched_getaffinity(0)) > 1
                                             else [])
    for name in placements:
        run = record[name]
        assert run["round_trips"] == 3000 and run["us_per_round_trip"] > 0
        assert run["sender_cpu_us"] > 0 and run["echo_cpu_us"] > 0
    assert summary.startswith("wakeups: same cpu:")


def test_hop_reports_both_servers_and_what_the_worker_adds() -> None:
    record, summary = run_smoke("hop.py", "--cpus", "0")
    assert COMMON <= record.keys() and record["benchmark"] == "hop"
    assert [run["mode"] for run in record["runs"]] == ["direct", "worker"]
    direct, worker = record["runs"]
    for run in (direct, worker):
        assert run["requests"] == 2000 and run["latency_n"] == 2000
        assert run["server_cpu_us_per_request"] > 0 and run["client_cpu_us_per_request"] > 0
    # Only the worker mode has a worker, and it did work for every request.
    assert direct["worker_cpu_us_per_request"] == 0 < worker["worker_cpu_us_per_request"]
    (added,) = record["added"]
    assert added["worker_cpu_us"] == worker["worker_cpu_us_per_request"]
    assert summary.startswith("hop: a worker round trip adds")


def test_worker_moves_times_a_worker_playing_whole_games_and_checks_its_replies() -> None:
    """``play`` checks every reply it decodes (a malformed one fails the run), so a
    figure comes only from a worker that played the games right."""
    record, summary = run_smoke("worker_moves.py", "--cpus", "0", "--states", "1")
    assert COMMON <= record.keys() and record["benchmark"] == "worker_moves"
    assert record["states"] == 1
    (figure,) = record["cpu_us_per_change"]
    assert figure > 0 and record["median"] == figure
    assert summary.startswith("worker_moves: the worker's CPU per change")


def test_bytecodes_counts_every_workload_with_and_without_the_store() -> None:
    record, summary = run_smoke("bytecodes.py", "--only", "join", "--only", "keepalive",
                                "--top", "3")
    assert COMMON <= record.keys()
    runs = {(run["workload"], run["store"]): run for run in record["runs"]}
    assert set(runs) == {("join", False), ("join", True), ("keepalive", False),
                         ("keepalive", True)}
    for run in runs.values():
        assert run["requests"] > 0 and len(run["top"]) == 3
    # The store adds work to a request: a count that missed the server's thread would not.
    for workload in ("join", "keepalive"):
        assert (runs[workload, True]["bytecodes_per_request"]
                > runs[workload, False]["bytecodes_per_request"] > 100)
    assert summary.startswith("bytecodes: join no store:")


def test_bytecodes_client_counts_the_network_envs_own_process() -> None:
    record, summary = run_smoke("bytecodes.py", "--client", "--top", "300")
    assert record["client"] is True
    (run,) = record["runs"]
    assert run["workload"] == "rl" and run["client"] is True and run["requests"] > 0
    files = {name.split(":")[0] for name, _, _ in run["top"]}
    # The env's thread, not the server's (it runs in another thread of the same process).
    assert {"aec.py", "_remote.py"} <= files and not files & {"lobby.py", "session.py"}
    assert summary.startswith("bytecodes: rl client:") and "per step" in summary


def test_bytecodes_worker_counts_a_game_workers_side_of_each_change() -> None:
    """``--worker``: the worker's own Python for tictactoe's changes (the game's rules,
    its views, the pipe's messages), per change; no server runs."""
    record, summary = run_smoke("bytecodes.py", "--worker", "--top", "300")
    assert record["worker"] is True
    (run,) = record["runs"]
    assert run["workload"] == "tictactoe" and run["worker"] is True and run["requests"] > 0
    files = {name.split(":")[0] for name, _, _ in run["top"]}
    assert {"worker.py", "tictactoe.py", "_channel.py"} <= files
    assert not files & {"lobby.py", "session.py", "workers.py"}
    assert summary.startswith("bytecodes: tictactoe worker:") and "per change" in summary


def test_bytecodes_with_isolate_counts_the_servers_side_of_a_game_in_a_worker() -> None:
    record, _ = run_smoke("bytecodes.py", "--only", "keepalive", "--isolate", "--top", "200")
    assert record["isolate"] is True
    for run in record["runs"]:
        files = {name.split(":")[0] for name, _, _ in run["top"]}
        # The game runs in the worker: the server's thread never runs echo.py, and it
        # talks to the worker (workers.py) for every move.
        assert "workers.py" in files and "echo.py" not in files


def test_bytecodes_tictactoe_counts_the_changes_of_isolations_move_phase() -> None:
    record, summary = run_smoke("bytecodes.py", "--only", "tictactoe", "--isolate", "--top",
                                "300")
    runs = {run["store"]: run for run in record["runs"]}
    assert set(runs) == {False, True}
    for run in runs.values():
        assert run["workload"] == "tictactoe" and run["requests"] % 8 == 0  # whole games
        files = {name.split(":")[0] for name, _, _ in run["top"]}
        assert "workers.py" in files and "tictactoe.py" not in files
    # Each change waits for its commit: the store's writer runs in the server's thread.
    assert "writer.py" in {name.split(":")[0] for name, _, _ in runs[True]["top"]}
    assert runs[True]["bytecodes_per_request"] > runs[False]["bytecodes_per_request"]
    assert summary.startswith("bytecodes: tictactoe no store:")


def test_bytecodes_push_counts_the_moves_of_subscribed_players() -> None:
    record, summary = run_smoke("bytecodes.py", "--only", "push", "--top", "300")
    runs = {run["store"]: run for run in record["runs"]}
    assert set(runs) == {False, True}
    for run in runs.values():
        assert run["workload"] == "push" and run["requests"] % 7 == 0  # whole games
        files = {name.split(":")[0] for name, _, _ in run["top"]}
        # Each move is pushed to the opponent's subscription.
        assert {"_push.py", "tictactoe.py"} <= files
    assert "writer.py" in {name.split(":")[0] for name, _, _ in runs[True]["top"]}
    assert runs[True]["bytecodes_per_request"] > runs[False]["bytecodes_per_request"]
    assert summary.startswith("bytecodes: push no store:") and "per move" in summary


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and CPU clocks: Linux")
def test_a_process_cpu_is_read_to_the_nanosecond_with_its_ended_threads() -> None:
    """The benchmarks' server CPU (``_common.process_cpu_us``) reads 3 ms of work, done
    by a thread that has ended, as 3 ms: /proc's 10 ms ticks read 0 or 10 ms (a smoke
    run's short window read 0 under load)."""
    sys.path.insert(0, str(BENCH))
    try:
        import _common
    finally:
        sys.path.remove(str(BENCH))
    work = ("import sys, threading, time\n"
            "def spin():\n"
            "    end = time.thread_time() + 0.003\n"
            "    while time.thread_time() < end: pass\n"
            "print('ready', flush=True); sys.stdin.readline()\n"
            "t = threading.Thread(target=spin); t.start(); t.join()\n"
            "print('done', flush=True); sys.stdin.readline()\n")
    with subprocess.Popen([sys.executable, "-c", work], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as child:
        assert child.stdin is not None and child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        before = _common.process_cpu_us(child.pid)
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "done\n"
        used = _common.process_cpu_us(child.pid) - before
        child.stdin.write("end\n")
    assert 3_000 <= used < 500_000, used
    assert used % 10_000 != 0, used  # not clock ticks
