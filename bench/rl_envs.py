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
  as a classic client's replies do.
* ``network_interleaved_with_pettingzoo``: the same network env and
  PettingZoo's ``tictactoe_v3`` in turns of ``--slice`` seconds (whole games;
  ``--seconds`` each in all), compared by steps per second and by steps per
  CPU-second (this process's and the server's CPU: another program's time is
  in neither). A shared VM's speed drifts within seconds; taking turns, both
  meet the same drift. This is the figure for issue 18's "over the network,
  one connection, >= 1/3 of PettingZoo".
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
from time import process_time
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


def play_games(env: Any, policy: RandomAgent, deadline: float) -> tuple[int, int]:
    """Whole games of random masked play until ``deadline``; (steps, games)."""
    steps = games = 0
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
    return steps, games


def aec_run(env: Any, seconds: float, seed: int = 1) -> dict[str, Any]:
    """Random masked play for ``seconds``; AEC steps and games per second."""
    env.reset(seed=seed)
    cpu = _common.own_cpu_us()
    start = perf_counter()
    steps, games = play_games(env, RandomAgent(seed), start + seconds)
    wall = perf_counter() - start
    cpu = _common.own_cpu_us() - cpu
    return {"seconds": round(wall, 3), "steps": steps, "games": games,
            "steps_per_s": round(steps / wall, 1), "games_per_s": round(games / wall, 1),
            "client_cpu_us_per_step": round(cpu / max(steps, 1), 1),
            # Steps per second of this process's own CPU time: what a quiet machine would
            # show, and far steadier than wall time while other programs take the cores.
            "steps_per_cpu_s": round(steps / max(cpu / 1e6, 1e-9), 1)}


class Slices:
    """One env's play in slices of time: steps, wall time and CPU time, summed.

    ``server_pid``: the server's CPU counts too (the network env's other end).
    """

    def __init__(self, env: Any, server_pid: int | None = None) -> None:
        self.env = env
        self.server_pid = server_pid
        self.policy = RandomAgent(1)
        self.steps = self.games = 0
        self.wall = self.own_cpu = self.server_cpu = 0.0

    def run(self, seconds: float) -> None:
        server = _common.process_cpu_us(self.server_pid) if self.server_pid else 0.0
        cpu, start = process_time(), perf_counter()
        steps, games = play_games(self.env, self.policy, start + seconds)
        self.wall += perf_counter() - start
        self.own_cpu += (process_time() - cpu) * 1e6
        if self.server_pid:
            self.server_cpu += _common.process_cpu_us(self.server_pid) - server
        self.steps += steps
        self.games += games

    def figures(self) -> dict[str, Any]:
        per = max(self.steps, 1)
        both = self.own_cpu + self.server_cpu
        return {"seconds": round(self.wall, 3), "steps": self.steps, "games": self.games,
                "steps_per_s": round(self.steps / self.wall, 1),
                "client_cpu_us_per_step": round(self.own_cpu / per, 1),
                "server_cpu_us_per_step": round(self.server_cpu / per, 1),
                "steps_per_cpu_s": round(self.steps / max(both / 1e6, 1e-9), 1)}


def interleaved(server: _common.Server, theirs_env: Any, seconds: float, slice_seconds: float,
                wait_for_save: bool = False) -> dict[str, Any]:
    """The network env and PettingZoo's in turns of ``slice_seconds``, ``seconds`` each.

    A shared VM's speed drifts within seconds (PettingZoo's own figure moved
    between 7.3k and 11.8k steps/s within minutes here): taking turns many
    times a second, both meet the same drift, and the ratio of their sums is
    steady where the ratio of two separate runs is not.
    """
    env = aec_env("TicTacToe", server=server.addr, session="bench-interleaved",
                  wait_for_save=wait_for_save)
    try:
        env.reset(seed=1)  # join before measuring
        theirs_env.reset(seed=1)
        ours, theirs = Slices(env, server.pid), Slices(theirs_env)
        while ours.wall < seconds:
            theirs.run(slice_seconds)
            ours.run(slice_seconds)
        network, pettingzoo = ours.figures(), theirs.figures()
    finally:
        env.close()
    return {"slice_seconds": slice_seconds, "network": network, "pettingzoo": pettingzoo,
            "ratio": round(network["steps_per_s"] / pettingzoo["steps_per_s"], 3),
            "cpu_ratio": round(network["steps_per_cpu_s"] / pettingzoo["steps_per_cpu_s"], 3)}


def network_run(server: _common.Server, seconds: float, wait_for_save: bool = False,
                session: str = "bench-aec") -> dict[str, Any]:
    env = aec_env("TicTacToe", server=server.addr, session=session,
                  wait_for_save=wait_for_save)
    try:
        env.reset(seed=1)  # join before measuring
        meter = _common.Meter(server.pid)
        run = aec_run(env, seconds)
        return {**run, **_per_step(meter.read(run["steps"]))}
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
                        help="in-process rounds, alternating ours and PettingZoo's (default 3)")
    parser.add_argument("--slice", type=float, default=0.25,
                        help="seconds of each turn when the network env and PettingZoo's "
                             "take turns (default 0.25)")
    parser.add_argument("--sessions", type=int, default=16,
                        help="sessions of the vector env (default 16)")
    parser.add_argument("--wait-for-save", action="store_true",
                        help="network envs: each step waits until the server saved it")
    args = _common.parse(parser, argv)
    seconds = 0.3 if args.smoke else args.seconds
    rounds = 1 if args.smoke else args.rounds
    slice_seconds = 0.05 if args.smoke else args.slice
    ours_env = aec_env("TicTacToe")
    theirs_env, missing = pettingzoo_tictactoe()
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(aec_run(ours_env, seconds))
        if theirs_env is not None:
            theirs.append(aec_run(theirs_env, seconds))
    ours_env.close()
    best_ours = max(ours, key=lambda r: r["steps_per_s"])
    best_theirs = max(theirs, key=lambda r: r["steps_per_s"]) if theirs else None
    cpu_ours = max(r["steps_per_cpu_s"] for r in ours)
    cpu_theirs = max(r["steps_per_cpu_s"] for r in theirs) if theirs else None
    with _common.Server("--log-level", "WARNING", *args.server_arg) as server:
        network = network_run(server, seconds, args.wait_for_save)
        turns = (interleaved(server, theirs_env, seconds, slice_seconds, args.wait_for_save)
                 if theirs_env is not None else None)
        vector = vector_run(server, args.sessions, seconds, args.wait_for_save)
        problems = server.log_problems()
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
        "network": {**network, "ratio_to_pettingzoo": (
            round(network["steps_per_s"] / reference, 2) if reference else None)},
        "network_interleaved_with_pettingzoo": turns,
        "vector": vector, "server_log_problems": problems,
    }
    pz = (f"{reference:.0f}; per CPU-second {cpu_ours:.0f} against {cpu_theirs:.0f}"
          if reference and cpu_theirs else f"missing ({missing})")
    taking_turns = (f" | taking turns with PettingZoo: {turns['ratio']:.3f} of its steps/s, "
                    f"{turns['cpu_ratio']:.3f} of its steps per CPU-second" if turns else "")
    summary = (f"rl_envs: in-process {best_ours['steps_per_s']:.0f} AEC steps/s "
               f"(PettingZoo tictactoe_v3: {pz}) | network, one connection: "
               f"{network['steps_per_s']:.0f} steps/s (server "
               f"{network['server_cpu_us_per_step']:.0f} µs/step, client "
               f"{network['generator_cpu_us_per_step']:.0f} µs/step){taking_turns} | "
               f"vector env of {vector['sessions']} sessions, one connection: "
               f"{vector['steps_per_s']:.0f} steps/s | others "
               f"{network['other_cpu_pct']:.0f}% + steal {network['steal_pct']:.0f}%")
    _common.emit(record, summary)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
