"""A connection's states, the events that move it, and why its reading pauses: plain data.

A connection is always in exactly one ``State``; it moves only through the
table ``TRANSITIONS`` (state, event -> next state), and the state decides
what happens to bytes that arrive, whether a deadline of
``connection_timeout`` runs (set on entering the state; the transport sets
the first one) and what it does:

=========  ===========================  =========  ==================================
state      bytes that arrive            deadline   when the deadline passes
=========  ===========================  =========  ==================================
HEADER     read as a PROXY header       short (2)  refuse ("no PROXY header in time")
READING    read as the next request     yes        reply "timed out" and close, or
                                                   (idle and kept alive) just close
SERVING    buffered if kept alive,      no (1)     abort, if replies are unsent (1)
           dropped in classic mode
WAITING    as SERVING                   no (1)     abort, if replies are unsent (1)
CLOSING    not read                     yes (3)    abort (the client does not read)
DRAINING   read and dropped             short (3)  close once the client is quiet;
                                                   abort once the drain is over
CLOSED     -                            no         -
=========  ===========================  =========  ==================================

(1) Except while replies are left unsent for the client (``_connection.py``):
then a deadline runs in every state.

(2) Only a connection from an address of ``proxy_protocol_from`` starts in
HEADER (``_proxyheader.py``); it has ``PROXY_HEADER_DEADLINE`` (at most
``connection_timeout``) for its header, and moves to READING once it is read.

(3) A refused client drains for a short bounded time, not for a whole
``connection_timeout`` (``_connection.py``, ``REFUSED_QUIET``,
``REFUSED_DRAIN_MAX``); until 2026-12-01 only the TLS port's plain clients did.
Closed once quiet, it keeps the drain's end in CLOSING (short deadlines): a
client that takes nothing of what is unsent is aborted then.

(Entering SERVING or WAITING does not clear READING's deadline: it lapses,
and ``BaseConnection._timed_out`` ignores it there if nothing is left unsent. A request is
served in microseconds and READING sets a fresh one as it comes back: one
change of the deadlines per request instead of two.)

The life of a request: READING --REQUEST--> SERVING; the lobby answers at
once, or hands back a ``Wait`` (SERVING --WAIT--> WAITING --WAKE-->
SERVING). A kept-alive reply goes back to READING (REPLIED), where requests
that came meanwhile are served in turn; a classic reply is the last one
(LAST_REPLY -> CLOSING). A request too large is refused with a reply and our
half of the close (REFUSE -> DRAINING), so that the client reads the reply
before the kernel resets the connection; once the client is quiet it is
closed (HANG_UP -> CLOSING). A client that closes its side is
gone (HANG_UP -> CLOSING, its waiting request dropped); the transport
reports the closed socket (GONE -> CLOSED) from any state. A connection
from a proxy that sends the PROXY protocol starts in HEADER, and goes on to
READING once its header names the client (HEADER_READ), or is refused.

What a connection does in each state is ``BaseConnection``'s
(``_connection.py``); this module is only the table, so that it can be read,
and tested, on its own.
"""

from __future__ import annotations

import enum


class State(enum.IntEnum):
    """Where a connection is in its life (see the table at the top)."""

    READING = 1  # reading the next request (or idle between kept-alive requests)
    SERVING = 2  # a complete request is being answered
    WAITING = 3  # the request waits for an outcome (join until full, state until new, a save)
    CLOSING = 4  # the last reply is written; the socket closes once it is sent
    DRAINING = 5  # refused: reply and half-close written; what comes is dropped until EOF
    CLOSED = 6
    HEADER = 7  # from a proxy of proxy_protocol_from: reading its PROXY header, first


class Event(enum.IntEnum):
    """What moves a connection from one state to the next."""

    REQUEST = 1  # a complete request was read
    WAIT = 2  # the lobby's answer must wait
    WAKE = 3  # what it waited for happened
    REPLIED = 4  # a kept-alive reply was written
    LAST_REPLY = 5  # a reply after which the connection closes was written
    REFUSE = 6  # a refusal and our half of the close were written
    HANG_UP = 7  # close without a reply (the client left, or an idle kept-alive connection)
    GONE = 8  # the socket is closed
    HEADER_READ = 9  # the PROXY header is read: the connection is the client's it names


# Module-level names: looking a member up on its enum class costs more than the transition.
HEADER, READING, SERVING, WAITING = State.HEADER, State.READING, State.SERVING, State.WAITING
CLOSING, DRAINING, CLOSED = State.CLOSING, State.DRAINING, State.CLOSED
REQUEST, WAIT, WAKE, REPLIED = Event.REQUEST, Event.WAIT, Event.WAKE, Event.REPLIED
LAST_REPLY, REFUSE, HANG_UP, GONE = Event.LAST_REPLY, Event.REFUSE, Event.HANG_UP, Event.GONE
HEADER_READ = Event.HEADER_READ

TRANSITIONS: dict[State, dict[Event, State]] = {
    HEADER: {HEADER_READ: READING, REFUSE: DRAINING, HANG_UP: CLOSING, GONE: CLOSED},
    READING: {REQUEST: SERVING, LAST_REPLY: CLOSING, REFUSE: DRAINING, HANG_UP: CLOSING,
              GONE: CLOSED},
    SERVING: {WAIT: WAITING, REPLIED: READING, LAST_REPLY: CLOSING, GONE: CLOSED},
    WAITING: {WAKE: SERVING, HANG_UP: CLOSING, GONE: CLOSED},
    CLOSING: {GONE: CLOSED},
    DRAINING: {HANG_UP: CLOSING, GONE: CLOSED},
    CLOSED: {},
}
# States with a deadline of ``connection_timeout``, set on entering them (DRAINING's is
# shorter, and HEADER's: see the notes under the table).
TIMED = frozenset({READING, CLOSING})
# States whose deadline starts again as the client takes some of its replies.
TAKEN_RESTARTS = frozenset({READING, SERVING, WAITING, CLOSING})
# States in which the socket is read (flow control may pause it).
READ = frozenset({HEADER, READING, SERVING, WAITING, DRAINING})

# Why reading is paused (bits of ``BaseConnection._paused``: flow control, ``_connection.py``).
OUTPUT_FULL = 1  # more than reply_buffer_max of replies unsent
INPUT_FULL = 2  # request_size_max of later requests buffered while one is served
HELD_FULL = 4  # more than reply_buffer_max of replies held until their save
UNSENT_FULL = 8  # replies unsent (or held) here, and its address's (or all) beyond their bound
VERDICT = 16  # named by its PROXY header, beyond the limits: the verdict waits (``_recheck``)
# No request is served while one of these holds.
NOT_SERVING = OUTPUT_FULL | HELD_FULL | UNSENT_FULL | VERDICT


class ConnectionStateError(Exception):
    """A transition the table does not allow: a bug in the server, never the client's fault."""


def next_state(state: State, event: Event) -> State:
    """The state after ``event`` in ``state``.

    Raises:
        ConnectionStateError: the table has no such transition.
    """
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        raise ConnectionStateError(
            f"connection: no transition from {state.name} on {event.name}") from None
