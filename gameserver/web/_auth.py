"""Who may read what: the access token, its cookie, the host check and the guessing throttle.

Three kinds of visitors (docs/dashboard.md, "Access token" and "Playing in
the browser"):

* the **operator** presents the access token (``?token=``, the cookie the
  dashboard sets for it, or ``Authorization: Bearer``). Only a server with a
  token has an operator.
* a **spectator** is anyone else the dashboard serves: with no token
  configured, every visitor of the localhost-only dashboard. On a shared
  lab machine that is every local user, so a spectator never sees what a
  player of a running game with hidden information may not see.
* a **player** is a visitor without the token of a dashboard that has
  one, on the few paths that playing needs (``player_path``): the play
  pages, the shipped files, the list of games and ``/api/play/...``. What
  a player may do there is decided by what it holds (an invite link, its
  seat's key), not by this gate.

With a token, the dashboard serves operators only (and ``/healthz``), and
players on the play paths.
Failed token attempts are throttled per client address: ``GUESS_BURST`` at
once, then one per ``GUESS_INTERVAL`` seconds; beyond that, every attempt
gets ``429`` unchecked, right or wrong. A right token is not let in then:
to let it in, each attempt would have to be checked, and a guesser would
tell right from wrong by ``200`` against ``429`` as fast as it can send, so
the throttle would slow nothing. Two things keep a guesser behind the
operator's address (a NAT, the TLS proxy in front) from locking the operator
out nonetheless (``Gate.level``):

* the **cookie** of a browser that logged in is let in, throttled or not: it
  is an HMAC of the token under a key drawn at random when the server starts
  (``cookie_value``), so it cannot be made from a guess of the token and is
  itself 256 bits that nobody can guess. A cookie that is not it (of an
  earlier run of the server) counts as no credential at all: the login form.
* a **wrong token already tried** from that address (a stale bookmark, a
  script with the old token polling) tells the sender nothing new: it is
  answered ``401`` and counted once, not at every try (``Throttle.tried``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from urllib.parse import urlencode

from ..addresses import address_key
from ..admission import WrongGuesses
from ..players import keys_match
from ._http import FIELDS_MAX, HTTPError, Request, Response, form_fields

OPERATOR = "operator"
SPECTATOR = "spectator"
PLAYER = "player"
COOKIE = "gameserver_dashboard"
LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]", "::1", "")  # "": an HTTP/1.0 client
GUESS_BURST = 10  # failed token attempts an address may make at once
GUESS_INTERVAL = 2.0  # seconds: one more failed attempt allowed per interval after that
GUESS_ADDRESSES = 10_000  # addresses remembered at most (the oldest are forgotten)
GUESSES_REMEMBERED = 4  # wrong guesses of an address remembered (a repeat is counted once)


def cookie_value(token: str, key: bytes) -> str:
    """The cookie that stands for the token: an HMAC of it under ``key``, so the token
    itself is never stored; ``key``, random for each run (``Gate``), makes it unguessable.

    Until 2026-11-30 the key was a constant and the token the HMAC's key: anyone could
    make the cookie of a guess, and the right cookie was let in while its address was
    throttled, so guessing a weak token through cookies was not throttled at all.
    """
    return hmac.new(key, token.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


class Throttle:
    """A bucket of failed attempts per address (``address_key``: IPv6 by its /64),
    refilled over time, and the last ``GUESSES_REMEMBERED`` wrong guesses of each
    (``admission.WrongGuesses``, as the tournament hall's passwords have them); memory
    bounded."""

    def __init__(self, burst: int = GUESS_BURST, interval: float = GUESS_INTERVAL,
                 addresses: int = GUESS_ADDRESSES) -> None:
        self.burst = burst
        self.interval = interval
        self.addresses = addresses
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # (left, when)
        self._wrong = WrongGuesses(GUESSES_REMEMBERED, addresses)

    def _left(self, address: str, now: float) -> float:
        left, when = self._buckets.get(address_key(address), (self.burst, now))
        return min(self.burst, left + (now - when) / self.interval)

    def tried(self, address: str, guesses: list[str]) -> bool:
        """Whether each of ``guesses`` is a wrong guess ``address`` made lately (``failed``).

        Such a request is wrong, and its answer tells its sender nothing it did not know:
        it is no new guess, and may be answered ``401`` (not counted, not ``429``).
        """
        return self._wrong.tried(address, guesses)

    def wait(self, address: str) -> float:
        """Seconds until ``address`` may try again; 0 when it may now."""
        now = time.monotonic()
        left = self._left(address, now)
        return 0.0 if left >= 1 else (1 - left) * self.interval

    def refuse(self, address: str, what: str) -> None:
        """Raise ``429`` if ``address`` may not try again yet (``what``: the wrong things)."""
        wait = self.wait(address)
        if wait > 0:
            raise HTTPError(429, f"too many wrong {what} from your address; try again in "
                                 f"{wait:.0f} s", (("Retry-After", f"{wait:.0f}"),))

    def failed(self, address: str, guesses: list[str] | None = None) -> None:
        """Count a failed attempt of ``address``; remember its wrong ``guesses`` (``tried``)."""
        now = time.monotonic()
        counted_as = address_key(address)  # an IPv6 client: its /64
        if guesses:
            self._wrong.add(address, guesses)
        self._buckets[counted_as] = (self._left(address, now) - 1, now)
        self._buckets.move_to_end(counted_as)
        while len(self._buckets) > self.addresses:
            self._buckets.popitem(last=False)


class Gate:
    """Decides each request's access level, or answers it (login form, 401, 429, 403).

    Args:
        token: the access token, or "" for none.
        host: the address the dashboard listens on (also accepted as a Host name).
        login_page: the HTML form shown to a browser without the token.
    """

    def __init__(self, token: str, host: str, login_page: bytes) -> None:
        self.token = token
        self.host = host
        self.login_page = login_page
        self.throttle = Throttle()
        # A new key at each start: a browser logs in again after a restart (documented).
        self._cookie = cookie_value(token, secrets.token_bytes(32)) if token else ""

    def level(self, request: Request, page: bool, player_path: bool = False) -> str | Response:
        """``OPERATOR``, ``SPECTATOR`` or ``PLAYER``, or the reply that ends the request here.

        ``player_path``: the path is one that players reach without the token.
        """
        if not self.token:
            self._check_host(request)
            return SPECTATOR
        given = self._credentials(request)
        # The cookie (256 bits under this run's random key: see cookie_value) cannot be
        # guessed, throttled or not, so a browser that logged in keeps working while its
        # address is throttled: else anyone sharing the operator's address (a class's NAT,
        # the TLS proxy in front) locked the operator out with a wrong token every 2 s.
        # Any other cookie is of an earlier run (or junk): no credential, and no guess.
        if any(kind == "cookie" and keys_match(value, self._cookie) for kind, value in given):
            if page and any(kind == "query" for kind, _ in given):
                return self._to_cookie(request)
            return OPERATOR
        tokens = [value for kind, value in given if kind != "cookie"]
        if not tokens:
            if player_path:
                return PLAYER
            if page:
                return Response(401, self.login_page, "text/html; charset=utf-8")
            raise HTTPError(401, "access token required: add ?token=... or send "
                                 "'Authorization: Bearer ...'")
        if self.throttle.tried(request.client, tokens):  # no new guess: counted once
            raise HTTPError(401, "wrong access token")
        self.throttle.refuse(request.client, "access tokens")  # unchecked: see the top
        if not any(keys_match(value, self.token) for value in tokens):
            self.throttle.failed(request.client, tokens)
            raise HTTPError(401, "wrong access token")
        if page and any(kind == "query" for kind, _ in given):
            return self._to_cookie(request)
        return OPERATOR

    def _credentials(self, request: Request) -> list[tuple[str, str]]:
        given = []
        if "token" in request.query:
            given.append(("query", request.param("token")))
        form = _login_form(request)
        if form is not None:
            given.append(("query", form))  # answered as a token in the address: a cookie
        cookie = _cookie(request.headers.get("cookie", ""))
        if cookie is not None:
            given.append(("cookie", cookie))
        bearer = request.headers.get("authorization", "")
        if bearer.startswith("Bearer "):
            given.append(("bearer", bearer[7:].strip()))
        return given

    def _to_cookie(self, request: Request) -> Response:
        """Take the token out of the address bar and the history: a cookie instead."""
        rest = urlencode([(k, v) for k, values in request.query.items() if k != "token"
                          for v in values])
        # One leading slash only: a browser takes "//host" and "/\\host" to another site.
        location = "/" + request.path.lstrip("/\\") + ("?" + rest if rest else "")
        # Behind a TLS proxy (which says so: X-Forwarded-Proto) the cookie is Secure: else
        # the browser sends it, the token's equal, in clear to any http:// address of the
        # host (cookies ignore ports), where someone on the network reads it. A client that
        # claims https without a proxy only gets a cookie its browser will not keep.
        secure = "; Secure" if _forwarded_https(request) else ""
        return Response(303, b"", "text/plain", (
            ("Location", location),
            ("Set-Cookie", f"{COOKIE}={self._cookie}; Path=/; HttpOnly; SameSite=Strict"
                           f"{secure}")))

    def _check_host(self, request: Request) -> None:
        """Without a token, answer only requests addressed to localhost.

        Stops a web page elsewhere from reading the dashboard through DNS
        rebinding (a name of theirs that resolves to 127.0.0.1).
        """
        host = request.headers.get("host", "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name not in LOCAL_NAMES and name != self.host:
            raise HTTPError(403, "the dashboard answers only requests for localhost")


def _login_form(request: Request) -> str | None:
    """The token the login form posted, or None.

    The form posts it (not ``GET``): in an address it would stay in the
    browser's history and in the access log of a proxy in front, which logs
    addresses whole.
    """
    if request.method != "POST" or request.media_type != "application/x-www-form-urlencoded":
        return None
    fields = form_fields(request.body.decode("utf-8", "replace"))
    if fields is None:  # 64 KiB of "a&" took 22 ms of the loop to decode, from anyone
        raise HTTPError(400, f"a login form has one field, not more than {FIELDS_MAX}")
    values = fields.get("token")
    return values[-1] if values and values[-1] else None  # (blank: the form again)


def _forwarded_https(request: Request) -> bool:
    """Whether a proxy in front says the browser reached it over TLS."""
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return proto == "https"


def _cookie(header: str) -> str | None:
    """The value of our cookie in a ``Cookie`` header, or None; one pass over the header.

    Not ``http.cookies``: before Python 3.11.10 / 3.12.6 it takes quadratic
    time on backslashes (CVE-2024-7592), and a stranger's 16 KiB header then
    held the event loop, the game server's too, for a third of a second per
    request. Our cookie is a hex digest, so nothing in it needs unquoting.
    """
    if COOKIE not in header:
        return None
    for pair in header.split(";"):
        name, equals, value = pair.partition("=")
        if equals and name.strip() == COOKIE:
            return value.strip()
    return None
