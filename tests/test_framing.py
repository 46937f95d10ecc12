"""Framing with bytes alone: where a request ends, the size limit, what is kept for later."""

from __future__ import annotations

import pytest

from gameserver.framing import TERMINATOR, HTTPRequest, RequestReader, TLSHandshake
from gameserver.protocol import ProtocolError


def test_reader_returns_request_once_terminator_arrives_in_pieces() -> None:
    reader = RequestReader(1000)
    assert reader.feed(b'{"type": "jo') is None
    assert reader.feed(b'in"}EO') is None
    assert reader.feed(b"T") is None
    assert reader.feed(b"\x00") == b'{"type": "join"}'
    assert reader.pending == 0


def test_reader_keeps_bytes_after_the_terminator_for_the_next_request() -> None:
    reader = RequestReader(1000)
    assert reader.feed(b"{}EOT\x00[1]EOT\x00{") == b"{}"
    assert reader.next_request() == b"[1]"
    assert reader.next_request() is None
    assert reader.pending == 1


def test_reader_accepts_a_request_exactly_at_the_size_limit_terminator_included() -> None:
    body = b"x" * 96
    reader = RequestReader(100)
    assert reader.feed(body + TERMINATOR) == body


def test_reader_rejects_one_byte_over_the_limit() -> None:
    reader = RequestReader(100)
    with pytest.raises(ProtocolError, match="^server: request size exceeded by client$"):
        reader.feed(b"x" * 97 + TERMINATOR)


def test_reader_rejects_an_endless_request_without_terminator() -> None:
    reader = RequestReader(100)
    reader.feed(b"x" * 100)
    with pytest.raises(ProtocolError, match="request size exceeded"):
        reader.feed(b"x")


def test_reader_takes_a_whole_request_in_one_piece_and_nothing_less() -> None:
    assert RequestReader(100).feed(b"{}" + TERMINATOR) == b"{}"
    assert RequestReader(100).feed(TERMINATOR) == b""
    assert RequestReader(100).feed(b"EOT") is None  # shorter than the terminator
    reader = RequestReader(100)
    assert reader.feed(b"{}" + TERMINATOR + b"[]" + TERMINATOR) == b"{}"
    assert reader.next_request() == b"[]"


def test_bytes_kept_for_later_are_checked_when_their_turn_comes() -> None:
    # feed_later never refuses (the connection pauses its reading instead); the
    # request that is too large is refused when it is taken.
    reader = RequestReader(100)
    reader.feed_later(b"{}" + TERMINATOR + b"x" * 300)
    assert reader.pending == 306 and reader.size_max == 100
    assert reader.next_request() == b"{}"
    with pytest.raises(ProtocolError, match="request size exceeded"):
        reader.next_request()


def test_a_tls_handshake_is_refused_at_its_first_byte() -> None:
    """A ClientHello holds no terminator: it was buffered until the connection's deadline
    (or the size limit). No JSON text begins with 0x16; other requests are untouched."""
    reader = RequestReader(1000)
    with pytest.raises(TLSHandshake, match="^server: a TLS handshake came, but this port "
                                           "speaks plain TCP"):
        reader.feed(b"\x16")
    reader = RequestReader(1000)
    with pytest.raises(TLSHandshake):
        reader.feed(b"\x16\x03\x01\x02\x00" + bytes(range(200)))
    reader = RequestReader(1000)
    assert reader.feed(b'{"type": "discover", "x": "\x16') is None  # (in the middle: JSON's
    assert reader.feed(b'"}' + TERMINATOR) == b'{"type": "discover", "x": "\x16"}'  # problem)


def test_an_http_request_is_refused_at_its_first_look_with_an_http_reply() -> None:
    """A browser's request holds no terminator: it was buffered until the connection's
    deadline. Its method and a space are enough; its reply is HTTP. A request line in
    pieces, or "GET " later in a request, is not taken for one."""
    for method in (b"GET", b"HEAD", b"POST", b"OPTIONS", b"CONNECT"):
        reader = RequestReader(1000)
        with pytest.raises(HTTPRequest) as refused:
            reader.feed(method + b" / HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = refused.value.reply()
        head, body = reply.split(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert b"Content-Length: %d\r\n" % len(body) in head + b"\r\n"
        assert body.startswith(b"server: an HTTP request came, but this port speaks the game")
    reader = RequestReader(1000)
    assert reader.feed(b"GE") is None
    assert reader.feed(b"T / HTTP/1.1\r\n") is None  # (not its first look: the deadline)
    reader = RequestReader(1000)
    assert reader.feed(b'{"x": "GET ') is None
    assert reader.feed(b'/"}' + TERMINATOR) == b'{"x": "GET /"}'
