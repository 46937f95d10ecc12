"""JSON as the wire carries it (``gameserver/_json.py``): the fast paths and their checks.

That the fast encoder and decoder agree with the ``json`` module on
arbitrary values is fuzzed in ``tests/test_fuzz.py``.
"""

from __future__ import annotations

import json

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

