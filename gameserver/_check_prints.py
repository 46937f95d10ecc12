"""What a game prints while ``python -m gameserver check`` loads and plays it: shown, within
bounds, as on the server.

The checker plays many games, and a ``print`` in ``move`` or ``state`` runs at
every move: a game that prints in a loop printed thousands of lines over the
checker's report. On the server a game's prints (``sys.stdout`` and
``sys.stderr`` alike, text or bytes) reach one pipe that the server logs
within one budget (``_output``); here the first ``PRINTS_SHOWN`` lines
(``PRINTS_SHOWN_CHARS`` characters) of both are shown, the rest counted and
cut, and one line then says how many and to take the prints out.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import sys
import typing
from collections.abc import Iterator

from . import _check_words as words

PRINTS_SHOWN = 20  # lines a game prints while it is loaded or checked that are shown
PRINTS_SHOWN_CHARS = 4000  # ... and characters of them (a line may be long)


class CappedPrints:
    """What a game prints while it is loaded or checked: ``sys.stdout`` and ``sys.stderr``
    are capped streams that share one budget, as on the server, where both reach one
    pipe that the server logs within one budget (``_output``). The first ``PRINTS_SHOWN``
    lines (``PRINTS_SHOWN_CHARS`` characters) are shown, each on the stream it was
    written to; the rest are counted and cut, then one line says how many (a game that
    prints in a loop printed thousands of lines over the checker's report). Each stream
    has a ``buffer`` for bytes, as a real one has (``sys.stdout.buffer.write(b"...")``
    works on the server, and failed only here).

    Use ``around()``; ``end()`` puts the real streams back and says what was cut.
    """

    def __init__(self, out: typing.TextIO, err: typing.TextIO) -> None:
        self.out = out
        self.stdout, self.stderr = _CappedStream(self, out), _CappedStream(self, err)
        self.lines_left, self.chars_left = PRINTS_SHOWN, PRINTS_SHOWN_CHARS
        self.cut_line_ends = self.cut_chars = 0  # of what the game printed, cut
        self.cut_open = False  # a line begun and not ended
        self.cutting = self.ended = False

    @classmethod
    @contextlib.contextmanager
    def around(cls) -> Iterator[CappedPrints]:
        """Capped prints for the ``with`` block: the game's ``print`` goes here."""
        prints = cls(sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = prints.stdout, prints.stderr  # type: ignore[assignment]
        try:
            yield prints
        finally:
            prints.end()

    def write(self, stream: _CappedStream, text: str) -> None:
        """Show what the budget has room for of ``text`` on ``stream``; count the rest."""
        if self.ended or not text:  # (ended: a game call that outlived the check)
            return
        shown = 0
        if not self.cutting:
            while shown < len(text) and self.lines_left:
                newline = text.find("\n", shown)
                shown = len(text) if newline < 0 else newline + 1
                self.lines_left -= newline >= 0
            shown = min(shown, self.chars_left)
            if shown:
                self.chars_left -= shown
                stream.out.write(text[:shown])
                stream.open = text[shown - 1] != "\n"
        if shown < len(text):  # from here on, everything is cut
            self.cutting = True
            self.cut_line_ends += text.count("\n", shown)
            self.cut_chars += len(text) - shown
            self.cut_open = not text.endswith("\n")

    def end(self) -> None:
        """Put the real streams back; say how many lines were cut, if any."""
        if self.ended:
            return
        for stream in (self.stdout, self.stderr):
            stream.buffer.close_decoder()  # (a character's bytes written in halves)
        self.ended = True
        if sys.stdout is self.stdout:
            sys.stdout = self.out
        if sys.stderr is self.stderr:
            sys.stderr = self.stderr.out
        self.stderr.out.write("\n" * self.stderr.open)
        self.stderr.out.flush()
        if self.cutting:
            cut = self.cut_line_ends + self.cut_open
            self.out.write("\n" * self.stdout.open + "\n".join(words.wrap(
                f"... {words.plural(cut, 'more line')} cut ({self.cut_chars:,} characters): only "
                f"the first {PRINTS_SHOWN} lines ({PRINTS_SHOWN_CHARS:,} characters) your game "
                "prints are shown. Take the print() calls out of your game once they have "
                "shown you what you were looking for: one in move() or state() runs at "
                "every move of every game, here and on the server, where it slows every "
                "move down.", words.WIDTH)) + "\n")


class _CappedStream(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr`` under ``CappedPrints``: text goes to ``out`` within
    the budget of all the game's prints."""

    def __init__(self, prints: CappedPrints, out: typing.TextIO) -> None:
        super().__init__()
        self.prints = prints
        self.out = out
        self.open = False  # a line shown begun and not ended
        self.buffer = _CappedBytes(self)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.out, "encoding", None) or "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.prints.write(self, text)
        return len(text)

    def flush(self) -> None:
        if not self.prints.ended:  # (after: a game call that outlived the check, or GC)
            self.out.flush()


class _CappedBytes(io.RawIOBase):
    """The ``buffer`` of a ``_CappedStream``: bytes, decoded as UTF-8 (as the server reads a
    worker's prints, ``_output``), go the way of its text."""

    def __init__(self, stream: _CappedStream) -> None:
        super().__init__()
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def writable(self) -> bool:
        return True

    def write(self, data: typing.Any) -> int:
        data = memoryview(data).tobytes()  # (bytes-like only: bytes(10**9) would be 1 GB)
        self.stream.write(self.decoder.decode(data))
        return len(data)

    def flush(self) -> None:
        self.stream.flush()

    def close_decoder(self) -> None:
        """Write what is left of a character begun (as U+FFFD)."""
        self.stream.write(self.decoder.decode(b"", final=True))
