"""JSON as the wire carries it: one encoder, one decoder, fast where CPython allows.

Every reply is encoded and every request decoded, so both skip work the
``json`` module redoes on every call: the encoder is CPython's C encoder,
built once (``json.encoder.c_make_encoder``), and the decoder calls the C
scanner directly (``scan_once``). Both are private to CPython. Each is
checked once, at import, against the public ``json`` API on a sample of
every kind of value; where a Python version changed one, the public API is
used instead and ``FAST_PATH_FALLBACKS`` says why (the server logs it at
start). ``private_api_problem`` is that check, for the socket layer's use
of a private accept too.

NaN and Infinity are refused both ways: they are not JSON, and clients in
other languages reject them; so is a number beyond the float range (``1e999``),
which would be Infinity.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

# allow_nan=False: NaN and Infinity are not JSON; clients in other languages reject them.
_ENCODER = json.JSONEncoder(ensure_ascii=True, check_circular=True, allow_nan=False)


# A value with every kind of JSON, to check the private fast paths against the public API.
_SAMPLE = {"status": "ok", "data": {"list": [1, -2, 2.5, True, False, None, "x\u00e9\n\"",
                                             {}, []], "nested": {"a": {"b": [{"c": 1}]}}}}


def private_api_problem(name: str, instead: str, works: Callable[[], bool]) -> str | None:
    """None if the private CPython API ``name`` passes its check ``works``; else why not.

    The answer is the one log line for the server: ``name`` changed in this
    Python version, and ``instead`` (what is done with the public API).
    """
    try:
        if works():
            return None
    except Exception:  # noqa: BLE001 - any failure means: do not use it
        pass
    return (f"{name} is not what this server expects in this Python version: {instead} "
            "(slower)")


# The deepest recursion limit under which a value is encoded without the encoder's
# circular-reference markers (see ``_make_encode``): each level of a nested value takes
# about 112 bytes of C stack in the encoder (CPython 3.11, measured: a list nested
# 75,000 deep overflows the main thread's 8 MiB stack; 9,300 deep a thread's 1 MiB, what
# Python's official Alpine images give every thread), so 2,000 levels stay within about
# 230 KiB, a fifth of such a thread. Python's default limit is 1,000; a program that lifts
# it (often to 10,000: a student's recursive search) gets the markers, as before.
DEPTH_WITHOUT_MARKERS = 2_000


def _make_encode(make: Callable[..., Any] | None) -> tuple[Callable[[Any], str], str | None]:
    """``_ENCODER.encode``, without what it redoes on every call; and why not, if not.

    ``JSONEncoder.encode`` builds a new C encoder for every value it encodes
    and keeps a dict of the lists and dicts being encoded (its markers), to
    refuse a circular reference. Every reply is encoded, so this builds a C
    encoder once, without the markers: they cost about a tenth of an
    encoding (an entry per list or dict, made and removed). A circular value
    then nests for ever: the encoder stops at the recursion limit
    (RecursionError), and the value is encoded again the public way, with
    markers, which gives the error it gives today: ValueError "Circular
    reference detected", or RecursionError again for a value nested too
    deeply. Above a recursion limit of ``DEPTH_WITHOUT_MARKERS`` (a game may
    raise it) the public way is taken at once: a circular value could
    overflow the C stack before the limit. The encoder keeps nothing between
    calls, so threads may share it. Where the C encoder is missing (another
    Python implementation) it is the plain ``encode`` throughout.

    ``c_make_encoder`` is private to CPython: it is checked against the
    public ``encode`` here, once, and where a Python version changed it the
    plain ``encode`` is used and the second value says so (the server logs it).
    """
    if make is None:
        return _ENCODER.encode, None
    join = "".join
    encoders = []

    def works() -> bool:
        encoders.append(make(None, _ENCODER.default, json.encoder.encode_basestring_ascii,
                             None, _ENCODER.key_separator, _ENCODER.item_separator,
                             _ENCODER.sort_keys, _ENCODER.skipkeys, _ENCODER.allow_nan))
        return join(encoders[0](_SAMPLE, 0)) == _ENCODER.encode(_SAMPLE)

    problem = private_api_problem("json.encoder.c_make_encoder",
                                  "replies are encoded with the public json API", works)
    if problem:
        return _ENCODER.encode, problem
    encoder, with_markers, recursion_limit = encoders[0], _ENCODER.encode, sys.getrecursionlimit

    def encode(value: Any) -> str:
        if recursion_limit() <= DEPTH_WITHOUT_MARKERS:
            try:
                return join(encoder(value, 0))
            except RecursionError:
                pass  # circular, or nested too deeply: the public way says which
        return with_markers(value)

    return encode, None


# ``encode_json(value)``: ``value`` as JSON text, exactly as replies encode it. Raises
# TypeError for a value that JSON cannot express (a set, an object), ValueError for
# NaN, Infinity or a circular reference.
encode_json, _ENCODE_FALLBACK = _make_encode(getattr(json.encoder, "c_make_encoder", None))


def json_or_repr(value: Any) -> str:
    """``value`` as JSON text, or its ``repr`` as a JSON string where it is not JSON.

    How the store logs a move and its verdict, so that a replay compares texts.
    """
    try:
        return encode_json(value)
    except (TypeError, ValueError):
        return encode_json(repr(value))


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's decoder accepts them by default.
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    """A number of a request as a float; one beyond the float range is refused.

    ``1e999`` is valid JSON and became Infinity: a game that kept it could not
    send its state to anyone any more (one player's move broke the game for all).
    """
    value = float(text)
    if value - value != 0.0:  # infinite (a JSON number is never NaN)
        raise ValueError(f"the number {text[:40]} is beyond what a JSON number may be here "
                         "(about ±1.8e308)")
    return value


_decoder = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _make_decode_json(decoder: json.JSONDecoder, scan_once: Callable[[str, int], Any] | None,
                      ) -> tuple[Callable[[str], Any], str | None]:
    """``decoder.decode``, straight to its ``scan_once`` when that is enough; or why not.

    The scanner (``scan_once``) reads one value from position 0; ``decode``
    adds Python work for whitespace around it. A request with anything
    around its value, or with an error, is decoded again by ``decode``,
    which skips the whitespace or raises the usual error with its message.

    ``scan_once`` is not public API: it is checked here, once, against
    ``decode`` (a value, then errors that must raise StopIteration or
    ValueError); where a Python version changed it, ``decode`` is used and
    the second value says so (the server logs it).
    """
    def works() -> bool:
        assert scan_once is not None
        text = encode_json(_SAMPLE)
        if scan_once(text, 0) != (decoder.decode(text), len(text)):
            return False
        for bad in ("", "[1,", "{", '"open'):
            try:
                scan_once(bad, 0)
                return False
            except (StopIteration, ValueError):
                pass
        return True

    problem = private_api_problem("json's scan_once",
                                  "requests are decoded with the public json API", works)
    if problem or scan_once is None:
        return decoder.decode, problem

    def decode_json(text: str) -> Any:
        try:
            data, end = scan_once(text, 0)
        except (StopIteration, ValueError):
            return decoder.decode(text)
        if end != len(text):
            return decoder.decode(text)
        return data

    return decode_json, None


# ``decode_json(text)``: the JSON value in ``text``; raises ValueError (JSONDecodeError)
# for what is not JSON, NaN and Infinity included, or RecursionError when nested too deeply.
decode_json, _DECODE_FALLBACK = _make_decode_json(_decoder,
                                                  getattr(_decoder, "scan_once", None))

# A JSON text's bytes by kind (``may_be_infinite``): every digit "0", "e" and "E" "e",
# "+" as it is, anything else " ".
_KINDS = bytes(48 if 48 <= b <= 57 else 101 if b in b"eE" else 43 if b == 43 else 32
               for b in range(256))
# ... where a number beyond the float range may be: an exponent of three digits or more
# (not a negative one), or a run of 40 digits (309 before a fraction make one; a text
# with a whole number of 40 digits is read again for nothing, and is rare).
_MAYBE_INFINITE = (b"0e000", b"0e+000", b"0" * 40)


def may_be_infinite(text: bytes) -> bool:
    """Whether JSON text ``text`` may hold a number beyond the float range, which
    ``scan_json`` reads as infinity (``decode_json`` then tells). Most texts do not: one
    ``bytes.translate`` and three searches, in C (a regular expression took as long as
    reading the text)."""
    kinds = text.translate(_KINDS)
    return any(needle in kinds for needle in _MAYBE_INFINITE)


# ``scan_json(text, 0)``: the JSON value at the start of ``text`` and where it ends; raises
# StopIteration or ValueError where there is none (NaN and Infinity included). For checking
# JSON that is sent on as it is (a worker's state replies, ``isolated``): all in C where
# ``decode_json`` is, as a number beyond the float range is read as infinity, not refused (a
# Python call per float, as ``decode_json`` makes, would cost a state of floats dearly); a
# text that may hold one (``may_be_infinite``) is read again with ``decode_json``.
_scanner = json.JSONDecoder(parse_constant=_reject_constant)
scan_json: Callable[[str, int], tuple[Any, int]] = (
    _scanner.raw_decode if _DECODE_FALLBACK else _scanner.scan_once)

# Why a private fast path of CPython is not used here (empty on the Pythons we know).
FAST_PATH_FALLBACKS = [problem for problem in (_ENCODE_FALLBACK, _DECODE_FALLBACK) if problem]
