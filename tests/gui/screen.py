"""A virtual screen (Xvfb) for the window examples, driven with xdotool, read with import.

``Screen`` starts Xvfb on a free display number (``-displayfd``: Xvfb picks
it), finds windows by title, clicks and types with xdotool as a person
would, and takes screenshots with ImageMagick's ``import``. Screenshots come
back as ``Picture``: plain RGB pixels, enough to ask "is there blue in this
cell?" without an imaging library.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import time
import zlib
from collections.abc import Callable
from pathlib import Path

TIMEOUT = 30.0  # generous: only to avoid hanging forever
TOOLS = {"Xvfb": "xvfb", "xdotool": "xdotool", "import": "imagemagick"}  # program: package


def missing_tools() -> list[str]:
    """What this machine lacks for the window tests, as Debian package names."""
    missing = [package for program, package in TOOLS.items() if shutil.which(program) is None]
    try:
        import tkinter  # noqa: F401
    except ImportError:
        missing.append("python3-tk")
    return missing


class Picture:
    """An RGB screenshot: ``picture[x, y]`` is an (r, g, b) tuple."""

    def __init__(self, ppm: bytes) -> None:
        match = re.match(rb"P6\s+(\d+)\s+(\d+)\s+255\s", ppm)
        assert match, f"not a PPM picture: {ppm[:20]!r}"
        self.width, self.height = int(match.group(1)), int(match.group(2))
        self.pixels = ppm[match.end():]

    def __getitem__(self, xy: tuple[int, int]) -> tuple[int, int, int]:
        x, y = xy
        i = 3 * (y * self.width + x)
        return self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]

    def png(self) -> bytes:
        """The picture as a PNG file (8-bit RGB, no filter: simple, not small)."""
        row = 3 * self.width
        raw = b"".join(b"\0" + self.pixels[y * row:(y + 1) * row] for y in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))

    def crop(self, width: int, height: int) -> Picture:
        """The top left ``width`` x ``height`` pixels."""
        row = 3 * self.width
        pixels = b"".join(self.pixels[y * row:y * row + 3 * width] for y in range(height))
        return Picture(b"P6 %d %d 255\n" % (width, height) + pixels)

    def count(self, left: int, top: int, width: int, height: int,
              wanted: Callable[[tuple[int, int, int]], bool]) -> int:
        """How many pixels of the rectangle satisfy ``wanted``."""
        return sum(1 for y in range(top, top + height) for x in range(left, left + width)
                   if wanted(self[x, y]))


class Screen:
    """One Xvfb display. Use as a context manager."""

    def __init__(self, width: int = 1024, height: int = 768) -> None:
        self.size = f"{width}x{height}x24"
        self.display = ""
        self._xvfb: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Screen:
        read_end, write_end = os.pipe()
        self._xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_end), "-screen", "0", self.size, "-nolisten",
             "tcp"], pass_fds=[write_end], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            number = pipe.readline().strip()  # written once the server is ready
        if not number:
            assert self._xvfb.stderr is not None
            raise RuntimeError("Xvfb did not start: " + self._xvfb.stderr.read().decode())
        self.display = f":{number}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._xvfb is not None:
            self._xvfb.terminate()
            self._xvfb.wait(TIMEOUT)
            if self._xvfb.stderr is not None:
                self._xvfb.stderr.close()

    @property
    def env(self) -> dict[str, str]:
        """The environment for a program that should open its windows on this screen."""
        return {**os.environ, "DISPLAY": self.display}

    def run(self, *command: str) -> str:
        done = subprocess.run(command, env=self.env, capture_output=True, text=True,
                              timeout=TIMEOUT)
        assert done.returncode == 0, f"{command} failed: {done.stderr}"
        return done.stdout

    def window(self, title_pattern: str) -> int:
        """The id of the one visible window whose title matches (a regex); waits for it."""
        found = self.run("xdotool", "search", "--sync", "--onlyvisible", "--name",
                         title_pattern).split()
        assert len(found) == 1, f"{len(found)} windows match {title_pattern!r}"
        return int(found[0])

    def title(self, window: int) -> str:
        return self.run("xdotool", "getwindowname", str(window)).rstrip("\n")

    def wait_for_title(self, window: int, pattern: str) -> str:
        """Wait until the window's title matches ``pattern`` (a regex); return the title.

        The title is the one thing of another program's window that X tells
        us as text, so the window examples keep their status in it.
        """
        deadline = time.monotonic() + TIMEOUT
        title = self.title(window)
        while not re.search(pattern, title):
            assert time.monotonic() < deadline, f"title stayed {title!r}, wanted {pattern!r}"
            time.sleep(0.05)  # another program's window: nothing to wait on but its title
            title = self.title(window)
        return title

    def corner(self, window: int) -> tuple[int, int]:
        """The bottom right corner of the window, on the screen."""
        shell = dict(line.split("=", 1) for line in
                     self.run("xdotool", "getwindowgeometry", "--shell", str(window)).split())
        return int(shell["X"]) + int(shell["WIDTH"]), int(shell["Y"]) + int(shell["HEIGHT"])

    def move(self, window: int, x: int, y: int) -> None:
        self.run("xdotool", "windowmove", "--sync", str(window), str(x), str(y))

    def click(self, window: int, x: int, y: int) -> None:
        """Move the mouse to (x, y) inside the window and click the left button."""
        self.run("xdotool", "mousemove", "--sync", "--window", str(window), str(x), str(y),
                 "click", "1")

    def type(self, window: int, text: str, then: str = "") -> None:
        """Give the window the keyboard, type ``text``, then press the key ``then``."""
        self.run("xdotool", "windowfocus", "--sync", str(window))
        self.run("xdotool", "type", "--delay", "5", text)
        if then:
            self.run("xdotool", "key", then)

    def capture(self, window: int | str = "root") -> Picture:
        """A screenshot of one window (or the whole screen)."""
        ppm = subprocess.run(["import", "-window", str(window), "-depth", "8", "ppm:-"],
                             env=self.env, capture_output=True, timeout=TIMEOUT,
                             check=True).stdout
        return Picture(ppm)


def keep(picture: Picture, name: str, tmp_path: Path) -> Path:
    """Save a screenshot: in tmp_path, or in $GAMESERVER_SCREENSHOTS when set (for the docs)."""
    folder = Path(os.environ.get("GAMESERVER_SCREENSHOTS") or tmp_path)
    path = folder / name
    path.write_bytes(picture.png())
    return path
