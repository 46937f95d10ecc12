"""JSON as the wire carries it (``gameserver/_json.py``): the fast paths and their checks.

That the fast encoder and decoder agree with the ``json`` module on
arbitrary values is fuzzed in ``tests/test_fuzz.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gameserver import _json


def test_the_private_json_fast_paths_work_on_this_python() -> None:
    assert _json.FAST_PATH_FALLBACKS == []


def test_a_changed_c_encoder_falls_back_to_the_public_api() -> None:
    def changed(*args: object) -> object:  # a signature this server does not know
        raise TypeError("c_make_encoder() takes 10 arguments")

    encode_json, problem = _json._make_encode(changed)
    assert problem is not None and "public json API" in problem
    assert encode_json({"a": [1, "é"]}) == '{"a": [1, "\\u00e9"]}'

    def wrong(*args: object) -> object:  # builds, but encodes differently
        return lambda value, level: ["{}"]

    encode_json, problem = _json._make_encode(wrong)
    assert problem is not None and encode_json([1]) == "[1]"
    encode_json, problem = _json._make_encode(json.encoder.c_make_encoder)
    assert problem is None and encode_json([1]) == "[1]"


def test_a_changed_scanner_falls_back_to_the_public_api() -> None:
    decoder = json.JSONDecoder()

    def changed(text: str) -> object:  # a signature this server does not know
        return None

    decode_json, problem = _json._make_decode_json(decoder, changed)  # type: ignore[arg-type]
    assert problem is not None and "public json API" in problem
    assert decode_json(' {"a": 1} ') == {"a": 1}

    def lenient(text: str, index: int) -> object:  # decodes, but takes what is not JSON
        return decoder.raw_decode(text or "0", index)

    assert _json._make_decode_json(decoder, lenient)[1] is not None
    decode_json, problem = _json._make_decode_json(decoder, decoder.scan_once)
    assert problem is None and decode_json('{"a": 1}') == {"a": 1}



def test_a_value_holding_itself_is_named_circular_and_a_deep_one_nested_too_deeply() -> None:
    """The encoder has no circular-reference markers: a value holding itself nests until
    the recursion limit, and is encoded again with markers to say which it is."""
    looped: list[object] = [1]
    looped.append(looped)
    inside: dict[str, object] = {"a": [{"b": 2}]}
    inside["a"][0]["c"] = inside  # type: ignore[index]
    for value in (looped, inside, {"state": [looped]}):
        with pytest.raises(ValueError, match="^Circular reference detected$") as caught:
            _json.encode_json(value)
        assert caught.value.__context__ is None  # (not raised while handling another)
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(RecursionError):
        _json.encode_json(deep)
    shared = [1, 2]
    assert _json.encode_json({"a": shared, "b": shared}) == '{"a": [1, 2], "b": [1, 2]}'


def run_alone(program: str) -> subprocess.CompletedProcess[str]:
    """``program`` run by this Python in a process of its own, from the checkout."""
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).parent.parent)


def test_above_the_limit_without_markers_a_value_holding_itself_still_gets_its_error() -> None:
    """A game may lift the recursion limit (deep recursive search). Without markers a
    value holding itself would then nest until the C stack overflows (a crash, at about
    75,000 levels here); above DEPTH_WITHOUT_MARKERS the markers are used at once. In
    a process of its own: a crash must not take the test run with it."""
    program = (
        "import sys\n"
        "from gameserver import _json\n"
        "sys.setrecursionlimit(1_000_000)\n"
        "looped = []\n"
        "looped.append(looped)\n"
        "try:\n"
        "    _json.encode_json({'state': looped})\n"
        "except ValueError as err:\n"
        "    print(err)\n")
    done = run_alone(program)
    assert (done.returncode, done.stdout) == (0, "Circular reference detected\n"), done.stderr


def test_in_a_thread_of_one_mib_a_value_holding_itself_gets_its_error_not_a_crash() -> None:
    """Python's official Alpine images (docker's python:3.11-alpine, Alpine's own package)
    give every thread a 1 MiB stack, room for about 9,200 levels of the C encoder here.
    Without markers a value holding itself nests up to the recursion limit: a program that
    lifts it to the usual 10,000 (a student's recursive search) and encodes a circular
    state in such a thread (``LocalSession``, ``ServerThread``) must get ValueError, not a
    segmentation fault. In a process of its own: a crash must not take the test run."""
    program = (
        "import sys, threading\n"
        "from gameserver import _json\n"
        "looped = {'board': [[0, 1]]}\n"
        "looped['history'] = [looped]\n"
        "def encode():\n"
        "    try:\n"
        "        _json.encode_json({'state': looped})\n"
        "    except ValueError as err:\n"
        "        print(sys.getrecursionlimit(), err)\n"
        "threading.stack_size(1 << 20)\n"
        "for limit in (_json.DEPTH_WITHOUT_MARKERS, 10_000):\n"
        "    sys.setrecursionlimit(limit)\n"
        "    thread = threading.Thread(target=encode)\n"
        "    thread.start()\n"
        "    thread.join()\n")
    done = run_alone(program)
    assert (done.returncode, done.stdout) == (
        0, f"{_json.DEPTH_WITHOUT_MARKERS} Circular reference detected\n"
           "10000 Circular reference detected\n"), done.stderr


def test_threads_may_encode_at_once() -> None:
    """The encoder keeps nothing between calls (no markers): threads share it."""
    values = [{"thread": number, "board": list(range(number % 9))} for number in range(8)]
    errors: list[BaseException] = []

    def encode_many(value: object) -> None:
        try:
            for _ in range(2000):
                assert _json.encode_json(value) == json.dumps(value)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=encode_many, args=(value,)) for value in values]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
