"""Benchmark (d): the reinforcement-learning environments of ``gameserver.rl``.

Every figure uses the same random masked policy (``gameserver.rl.RandomAgent``:
uniform among the actions the mask allows) on tic-tac-toe:

* ``inprocess``: ``aec_env(TicTacToe)``, the game in this process through the
  server's session code: AEC steps per second (one ``last()`` + ``step()``
  per agent turn, dead steps at the end of a game included, as PettingZoo
  counts them), next to PettingZoo's own ``tictactoe_v3`` driven by the
  same loop in the same run. The two alternate ``--rounds`` times and the
  best round of each counts (the machine may be shared).
* ``network``: ``aec_env(TicTacToe, server=...)`` on a real server
  (subprocess, default settings unless ``--server-arg``), one keep-alive
  connection, both seats driven by this process. Its steps do not wait for
  the server's disk (the env's default); ``--wait-for-save`` makes them wait,
  as a classic client's replies do. It runs once per round too, right after
  PettingZoo's run, and its best round is compared with PettingZoo's best:
  by wall time, and by steps per CPU-second of this process and the server
  together (steadier on a shared machine: another program's time is in
  neither).
* ``vector``: ``vector_env`` of ``--sessions`` sessions (default 16) over ONE
  connection, the agent against the random opponent: agent steps per second
  (each also carries the opponent's reply move).

Network records give server and client CPU per step and other programs' CPU
(interference). PettingZoo's tic-tac-toe needs pygame (``pip install
pygame``); without it that comparison is reported as missing.

    python bench/rl_envs.py              # 5 s per measurement, 3 rounds
    python bench/rl_envs.py --smoke      # a few seconds in all
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import _common
from _common import perf_counter

sys.path.insert(0, str(_common.ROOT))
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # pygame greets on stdout otherwise

from gameserver.rl import RandomAgent, aec_env, vector_env  # noqa: E402


def pettingzoo_tictactoe() -> tuple[Any, str | None]:
    """PettingZoo's ``tictactoe_v3`` env, or None and why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its deprecated import path warns
            from pettingzoo.classic import tictactoe_v3
    except ImportError as err:
        return None, f"pettingzoo.classic.tictactoe_v3 cannot be imported: {err}"
    return tictactoe_v3.env(), None


def aec_run(env: Any, seconds: float, seed: int = 1) -> dict[str, Any]:
    """Random masked play for ``seconds``; AEC steps and games per second."""
    policy = RandomAgent(seed)
    steps = games = 0
    env.reset(seed=seed)
    cpu = _common.own_cpu_us()
    start = perf_counter()
    deadline = start + seconds
    while perf_counter() < deadline:
        for _ in env.agent_iter():
            observation, _, terminated, truncated, _ = env.last()
            if terminated or truncated:
                env.step(None)
            else:
                env.step(policy(observation["observation"], observation["action_mask"]))
            steps += 1
        games += 1
        env.reset()
    wall = perf_counter() - start
    cpu = _common.own_cpu_us() - cpu
    return {"seconds": round(wall, 3), "steps": steps, "games": games,
            "steps_per_s": round(steps / wall, 1), "games_per_s": round(games / wall, 1),
            "client_cpu_us_per_step": round(cpu / max(steps, 1), 1),
            # Steps per second of this process's own CPU time: what a quiet machine would
            # show, and far steadier than wall time while other programs take the cores.
            "steps_per_cpu_s": round(steps / max(cpu / 1e6, 1e-9), 1)}


def network_run(server: _common.Server, seconds: float, wait_for_save: bool = False,
                session: str = "bench-aec") -> dict[str, Any]:
    env = aec_env("TicTacToe", server=server.addr, session=session,
                  wait_for_save=wait_for_save)
    try:
        env.reset(seed=1)  # join before measuring
        meter = _common.Meter(server.pid)
        run = aec_run(env, seconds)
        figures = _per_step(meter.read(run["steps"]))
        # Steps per CPU-second of both ends (this process's part is in the meter's
        # figures as the generator's, its syscalls included).
        both = figures["server_cpu_us_per_step"] + figures["generator_cpu_us_per_step"]
        return {**run, **figures, "steps_per_cpu_s": round(1e6 / max(both, 1e-9), 1)}
    finally:
        env.close()


def vector_run(server: _common.Server, sessions: int, seconds: float,
               wait_for_save: bool = False) -> dict[str, Any]:
    env = vector_env("TicTacToe", sessions, server=server.addr, session="bench-vector",
                     wait_for_save=wait_for_save)
    policy = RandomAgent(2)
    try:
        observations, infos = env.reset(seed=1)
        ended = [False] * sessions
        meter = _common.Meter(server.pid)
        steps = 0
        start = perf_counter()
        deadline = start + seconds
        while perf_counter() < deadline:
            masks = infos["action_mask"]
            # A session that has just ended gets a new game on this step: any action.
            actions = [policy(observations[n], masks[n]) if not ended[n] else 0
                       for n in range(sessions)]
            observations, _, ended, _, infos = env.step(actions)
            steps += sessions
        wall = perf_counter() - start
        return {"sessions": sessions, "steps": steps, "seconds": round(wall, 3),
                "steps_per_s": round(steps / wall, 1), **_per_step(meter.read(steps))}
    finally:
        env.close()


def _per_step(figures: dict[str, Any]) -> dict[str, Any]:
    """The meter's figures, with "per request" renamed: here they are per step."""
    return {key.replace("_per_request", "_per_step"): value
            for key, value in figures.items() if key != "requests"}


def main(argv: list[str] | None = None) -> int:
    parser = _common.make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="per measurement (default 5)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of ours in-process, PettingZoo's and ours over the network, "
                             "alternating (default 3)")
    parser.add_argument("--sessions", type=int, default=16,
                        help="sessions of the vector env (default 16)")
    parser.add_argument("--wait-for-save", action="store_true",
                        help="network envs: each step waits until the server saved it")
    args = _common.parse(parser, argv)
    seconds = 0.3 if args.smoke else args.seconds
    rounds = 1 if args.smoke else args.rounds
    ours_env = aec_env("TicTacToe")
    theirs_env, missing = pettingzoo_tictactoe()
    ours, theirs, networks = [], [], []
    with _common.Server("--log-level", "WARNING", *args.server_arg) as server:
        for _ in range(rounds):
            ours.append(aec_run(ours_env, seconds))
            if theirs_env is not None:
                theirs.append(aec_run(theirs_env, seconds))
            networks.append(network_run(server, seconds, args.wait_for_save,
                                        session=f"bench-aec-{len(networks)}"))
        vector = vector_run(server, args.sessions, seconds, args.wait_for_save)
        problems = server.log_problems()
    ours_env.close()
    best_ours = max(ours, key=lambda r: r["steps_per_s"])
    best_theirs = max(theirs, key=lambda r: r["steps_per_s"]) if theirs else None
    cpu_ours = max(r["steps_per_cpu_s"] for r in ours)
    cpu_theirs = max(r["steps_per_cpu_s"] for r in theirs) if theirs else None
    network = max(networks, key=lambda r: r["steps_per_s"])
    network_cpu = max(r["steps_per_cpu_s"] for r in networks)
    reference = best_theirs["steps_per_s"] if best_theirs else None
    record = {
        "benchmark": "rl_envs", "smoke": args.smoke, **_common.machine_info(),
        "seconds_per_run": seconds, "wait_for_save": args.wait_for_save,
        "policy": "RandomAgent (uniform over the action mask)",
        "inprocess": {"ours": ours, "pettingzoo_tictactoe_v3": theirs,
                      "pettingzoo_missing": missing,
                      "best_steps_per_s": best_ours["steps_per_s"],
                      "pettingzoo_best_steps_per_s": reference,
                      "ratio_to_pettingzoo": (round(best_ours["steps_per_s"] / reference, 2)
                                              if reference else None),
                      "best_steps_per_cpu_s": cpu_ours,
                      "pettingzoo_best_steps_per_cpu_s": cpu_theirs,
                      "cpu_ratio_to_pettingzoo": (round(cpu_ours / cpu_theirs, 2)
                                                  if cpu_theirs else None)},
        "network": {**network, "rounds": networks, "ratio_to_pettingzoo": (
            round(network["steps_per_s"] / reference, 2) if reference else None),
            "best_steps_per_cpu_s": network_cpu, "cpu_ratio_to_pettingzoo": (
                round(network_cpu / cpu_theirs, 2) if cpu_theirs else None)},
        "vector": vector, "server_log_problems": problems,
    }
    pz = (f"{reference:.0f}; per CPU-second {cpu_ours:.0f} against {cpu_theirs:.0f}"
          if reference and cpu_theirs else f"missing ({missing})")
    summary = (f"rl_envs: in-process {best_ours['steps_per_s']:.0f} AEC steps/s "
               f"(PettingZoo tictactoe_v3: {pz}) | network, one connection: "
               f"{network['steps_per_s']:.0f} steps/s (server "
               f"{network['server_cpu_us_per_step']:.0f} µs/step, client "
               f"{network['generator_cpu_us_per_step']:.0f} µs/step; per CPU-second "
               f"{network_cpu:.0f}) | vector env of "
               f"{vector['sessions']} sessions, one connection: "
               f"{vector['steps_per_s']:.0f} steps/s | others "
               f"{network['other_cpu_pct']:.0f}% + steal {network['steal_pct']:.0f}%")
    _common.emit(record, summary)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
