"""Talk to a game server from your own Python program.

This one file is everything a client needs: copy it next to your script and
import it. It only uses Python's standard library and runs on Python 3.8 or
newer. It is a drop-in replacement for the classic ``game_server_api`` module
of the "python-game-server" project: programs written for that module work
unchanged.

How a game goes:

1. Make a ``GameServerAPI`` object: which server, which game, which session.
2. ``join()`` waits until enough players have joined, then gives you your
   player id (0, 1, ...).
3. Loop: ``state()`` gives you the game state (it waits until something has
   changed); when your id is in ``state['current']`` it is your turn and you
   send a move with ``move(...)``. Stop when ``state['gameover']`` is true.

A complete tic-tac-toe client that plays the first free cell::

    from game_server_api import GameServerAPI, IllegalMove

    api = GameServerAPI('127.0.0.1', 4711, 'TicTacToe', players=2)
    my_id = api.join()                      # waits for a second player
    state = api.state()
    while not state['gameover']:
        if my_id in state['current']:       # my turn
            api.move(position=state['board'].index(-1))
        state = api.state()                 # waits for the next change
    print('winner:', state['winner'])

A server that uses TLS (its operator says so) needs one more line before
``join()``: ``api.enable_tls(verify=True)`` when the server has a certificate
from a public authority (Let's Encrypt, say: your system trusts those, no file
needed); ``api.enable_tls('cert.pem')`` with the certificate file its operator
gives you (a self-signed certificate); or ``api.enable_tls()`` to encrypt
without checking who answers.

Every problem is reported with an exception: ``IllegalMove`` when the game
rejects your move (try another one), ``GameServerError`` for everything else
(its message says what went wrong and what to do; messages starting with
``api:`` come from this module, for example when the server cannot be
reached; the server's short fixed texts, such as ``framework: not your turn``,
get this module's advice after ``'; '``). Control characters in the texts a
server sends (error messages, and the texts in states, which a game or
another player wrote) are written as escapes (``'\\x1b'``), so that printing
them cannot act on your terminal. A broken server
cannot hang your program or fill its memory: a reply larger than 16 MB
(``REPLY_MAX``), holding more than a million values (``REPLY_ITEMS_MAX``),
or not whole 120 seconds after it began (``join`` and ``state`` wait for the
other players first) or after the request (every other call), raises
``GameServerError``. If your game's states really are that large, raise the
limit after the import: ``game_server_api.REPLY_MAX = 64 * 1024 * 1024``.
``join()`` and ``state()`` wait for the other players an hour at most
(``WAIT_MAX``; a server that accepts and never answers cannot hold them for
ever): ``GameServerError``. If your games really wait longer, raise that limit
the same way (``None``: no limit). A tournament's ``join()`` (session
``tournament-...``) waits for your next game without that limit: a round
may take hours, and the tournament's end ends the wait.
A server that is gone without a word (its computer switched off, the network
down) is noticed by the system's checks of a silent connection, about 2
minutes later, also while ``join`` or ``state`` wait: ``GameServerError``.

The same loop can be written with ``states()``, which gives you each new
state as it comes (the server sends it; your program does not ask)::

    for state in api.states():
        if state['gameover']:
            break
        if my_id in state['current']:
            api.move(position=state['board'].index(-1))

Programs with a window (tkinter, pygame) must not wait in ``state()``: the
window would freeze. They call ``poll()`` from the window's timer instead; it
returns the new state if one has arrived, else ``None``, and never waits::

    def check_for_news():
        state = api.poll()
        if state is not None:
            show(state)
        root.after(100, check_for_news)     # tkinter: again in 100 ms
"""

import json
import os
import re
import select
import socket
import ssl
import sys
import threading
import time
import warnings

__all__ = ['GameServerAPI', 'GameServerError', 'IllegalMove']

# OpenSSL's codes of a server certificate that failed the check (X509_V_ERR_...), for
# the advice that follows (``_unverified_hint``).
_X509_EXPIRED = 10
_X509_HOSTNAME_MISMATCH = 62
_X509_IP_MISMATCH = 64
_TERMINATOR = b'EOT\x00'  # ends every request (and every reply in keep-alive mode)
_CONNECT_TIMEOUT = 5  # seconds for connecting and the TLS handshake
_BUFFER_SIZE = 4096
_MAX_IDLE_SOCKETS = 4  # kept-alive connections held open for later requests
# A broken or hostile server must not hang a program or fill its memory:
REPLY_MAX = 16 * 1024 * 1024  # bytes one reply (or one pushed state) may have at most
# Decoded, a value takes more memory than its text: 3 bytes of '{},' become a dict
# of 64 bytes and a list entry of 8. So the values are counted too, as the commas,
# '{' and '[' of the reply (those inside strings as well).
REPLY_ITEMS_MAX = 1_000_000  # values one reply may hold at most
_REPLY_TIMEOUT = 120.0  # seconds a reply may take (see _receive), and a request
# join() and state() wait for the other players; a server that accepts and never answers
# (broken, or not a game server) must not hold them for ever. Our server ends every wait
# sooner (its join_timeout and game_timeout: 1000 s unless its operator raised them).
WAIT_MAX = 3600.0  # seconds join() and state() wait for an answer at most; None: no limit
# A server that is gone without a word (switched off, its network down) is noticed sooner,
# by the system's keep-alive checks: after _KEEPALIVE_IDLE s of silence one every
# _KEEPALIVE_INTERVAL s; when _KEEPALIVE_COUNT in a row go unanswered, the connection
# fails (2 minutes in all).
_KEEPALIVE_IDLE = 60
_KEEPALIVE_INTERVAL = 10
_KEEPALIVE_COUNT = 6
_WAITING = ('join', 'state')  # requests the server answers when others have played
_TOURNAMENT_PREFIX = 'tournament-'  # a tournament's session (its join: _waits_unbounded)

# Requests that only read: in keep-alive mode these may be sent a second time
# when a reused connection dies before the reply starts (see _exchange).
_READ_ONLY = ('state', 'observe', 'observer_code')  # safe to send again

# What a server sends is shown to people: its error texts, and the texts in its states,
# which a game (or another player) wrote. A control character there would act on the
# terminal that prints it (an ANSI escape clears the screen, retitles the window or
# writes the clipboard; a carriage return overwrites the line), so it is written as an
# escape instead ('\x1b', as repr() shows it). A newline and a tab stay as they are
# (a game may lay out its board with them).
_UNPRINTABLE = re.compile('[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]')
# A reply's JSON text that may hold one: JSON writes them as \u001b, \b, \f or \r
# (and every other non-ASCII character as \u....), or as they are.
_MAY_BE_UNPRINTABLE = re.compile('\\\\[ubfr]|[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]')


class GameServerError(Exception):
    """Something went wrong talking to the server, or the server said no.

    The message (``str(error)``) says what happened. It starts with:

    - ``api:`` when this module found the problem (for example the server
      could not be reached); the message also says what you can do about it;
    - ``server:`` or ``framework:`` when the server rejected your request
      (for example ``framework: not your turn``).

    Example::

        try:
            api.join()
        except GameServerError as error:
            print('could not join:', error)
    """


class IllegalMove(Exception):
    """The game rejected your move. Nothing has changed: send another move.

    The message usually starts with ``game:`` and says why, for example
    ``game: position 4 is already taken``. Some games reject with several
    values instead of one text; you find them in ``error.args``.

    Example::

        try:
            api.move(position=4)
        except IllegalMove as error:
            print('not allowed:', error)
    """


class _Closed(Exception):
    """Internal: the connection ended before a single reply byte arrived."""


_RETRY_WINDOW = 10.0  # seconds state() waits for a restarting server before its one retry


class GameServerAPI:
    """Your connection to one game session on a game server.

    Create one object per player (or observer). Creating it does not contact
    the server yet; ``join()`` or ``observe()`` does.

    Args:
        server: the server's name or IP address, e.g. ``'127.0.0.1'`` (your
            own computer) or ``'games.example.org'``.
        port: the server's port number, usually ``4711``.
        game: the game's name exactly as the server knows it, e.g.
            ``'TicTacToe'``.
        session: a name for the game session that all players agree on, e.g.
            ``'lab3-team7'``; or ``'auto'`` (the default): the server puts you
            into any open session of this game.
        players: how many players the game should have. Needed only to *start*
            a new session; leave it out to only join a session that someone
            else started.
        name: your player name (optional). Other programs can watch you play
            with ``observe()`` if they know it.
        keep_alive: ``True`` keeps one connection open for all requests instead
            of opening a new one for each, which is faster when you send many
            requests (e.g. training an AI). If the server closes the kept
            connection, a new one is opened by itself; a server that does not
            know keep-alive works too, just not faster. Call ``close()`` (or
            use a ``with`` block) when you are done. Default ``False``:
            exactly like the classic module.

    One object may be used by several threads at once (for example one thread
    waiting in ``state()`` while another sends moves).

    Raises:
        AssertionError: if an argument has the wrong type or value; the
            message names the argument.

    Example::

        api = GameServerAPI('127.0.0.1', 4711, 'TicTacToe', session='duel', players=2)
        my_id = api.join()
    """

    def __init__(self, server, port, game, session='auto', players=None, name='',
                 keep_alive=False):
        # Explicit raises instead of assert statements: those vanish with python -O.
        _check(type(server) is str and len(server) > 0, 'server',
               'a non-empty str such as "127.0.0.1"', server)
        _check(type(port) is int and 0 <= port <= 65535, 'port',
               'an int from 0 to 65535 such as 4711', port)
        _check(type(game) is str and len(game) > 0, 'game',
               'a non-empty str such as "TicTacToe"', game)
        _check(type(session) is str and len(session) > 0, 'session',
               'a non-empty str such as "auto" or "mygame"', session)
        _check(players is None or (type(players) is int and players > 0), 'players',
               'None or an int greater than 0', players)
        _check(type(name) is str, 'name', 'a str', name)
        _check(type(keep_alive) is bool, 'keep_alive', 'True or False', keep_alive)

        self._server = server
        self._port = port
        self._game = game
        self._session = session
        # An auto-join puts the session's real token in _session; join() asks for 'auto'
        # again all the same (the token is refused there: 'auto' is a reserved prefix).
        self._auto = session == 'auto'
        self._players = players
        self._name = name
        self._player_id = None
        self._key = None
        self._observer = False

        self._request_size_max = int(1e6)  # bytes; the server tells us its limit on join
        self._answered = False  # has the server answered a request of this object?
        self._tls_context = None
        self._tls_file = None  # the certificate file given to enable_tls(), if any
        self._keep_alive = keep_alive
        self._idle = []  # kept-alive connections not in use right now
        self._lock = threading.Lock()  # guards _idle: threads may share this object
        # poll() and states(): the server pushes each new state on a connection of their
        # own (a subscription); a server without push gets a state request kept waiting there.
        self._poll_sock = None
        self._poll_sent = False  # is a state request waiting for its reply?
        self._poll_reply = bytearray()  # what has arrived of that reply (or of the pushes)
        self._poll_began = 0.0  # time.monotonic() when what _poll_reply holds began
        self._poll_seen = 0  # bytes at the start of _poll_reply searched for a terminator
        self._poll_lock = threading.Lock()  # poll() and state() share the waiting request
        self._pushing = False  # is this view subscribed on the poll connection?
        self._handed = None  # the last state state() or poll() gave: states() starts with it
        self._seen = None  # the last state given by any of them (see _warn_if_own_turn)
        self._acted = False  # has this object moved or restarted since?
        self._push_known = None  # does the server push? (None: not asked yet)

    # ------------------------------------------------------------ public API

    def join(self):
        """Start or join a game session and wait until the game begins.

        With a session name: if that session is waiting for players you join
        it; otherwise a new session is started (this needs ``players``). A
        full session with the same name is replaced by the new one. With
        ``session='auto'`` the server puts you into an open session of this
        game, or starts one (needs ``players``).

        ``join()`` waits until all players have joined, so start the other
        players' programs too. Players get the ids 0, 1, ... in the order
        they joined.

        Returns:
            int: your player id.

        Raises:
            GameServerError: if the session could not be joined or started
                (for example: unknown game, no ``players`` given to start a
                session, nobody else joined in time), or the server could not
                be reached.

        Example::

            my_id = api.join()
            print('I am player', my_id)
        """
        data = self._exchange({
            'type': 'join',
            'game': self._game,
            'session': 'auto' if self._auto else self._session,
            'players': self._players,
            'name': self._name})
        reply = self._need(data, 'join')
        self._stop_polling()
        self._player_id = reply['player_id']
        self._key = reply['key']
        # An auto-join gets its session's real token here; use it from now on.
        self._session = reply.get('session', self._session)
        self._request_size_max = reply.get('request_size_max', self._request_size_max)
        self._observer = False
        self._handed = self._seen = None  # a new seat: nothing of it was given yet
        return self._player_id

    def move(self, *args, **kwargs):
        """Send a move to the game. Only works when it is your turn.

        Write the move as keyword arguments; which ones depends on the game
        (tic-tac-toe wants ``position``). They are sent to the game as a
        dictionary, e.g. ``move(position=4)`` sends ``{"position": 4}``.

        Returns:
            None. Call ``state()`` to see the result.

        Raises:
            IllegalMove: the game rejected the move (the message says why);
                nothing changed, so you may try another move.
            GameServerError: you have not joined yet, you are an observer,
                it is not your turn, the game is over, the move cannot be sent
                as JSON (only str, int, float, bool, None, lists and dicts), or
                the server could not be reached.
            TypeError: the move was not given as keyword arguments (``move(4)``).

        Example::

            api.move(position=4)             # tic-tac-toe: mark the middle cell
            api.move(roll_dice=[0, 2])       # Yahtzee: roll the 1st and 3rd die again
        """
        if args:  # move(4): Python's own TypeError named no keyword, nor how to write one
            raise TypeError(_not_keywords(args, kwargs))
        if self._player_id is None:
            raise GameServerError('join a game first: call join() before move()')
        if self._observer:
            raise GameServerError('cannot submit moves as observer')
        self._acted = True  # (a rejected move changes the state too: see _warn_if_own_turn)
        self._exchange({
            'type': 'move',
            'game': self._game,
            'session': self._session,
            'player_id': self._player_id,
            'key': self._key,
            'move': kwargs})

    def state(self, legal_moves=False):
        """Get the game state, waiting until it has changed.

        The state is a dictionary; which keys it has depends on the game (for
        tic-tac-toe: ``'board'`` and ``'winner'``). Two keys are always there:

        - ``'current'``: a list with the ids of the players who may move now
          (empty once the game is over);
        - ``'gameover'``: ``True`` once the game has ended.

        The first call returns at once. After that, ``state()`` waits until
        the game has changed since your last call (a move by anyone, a
        restart), so you never need to ask again and again in a loop. If the
        last state said it is your turn alone and you have not moved since,
        nothing can change: ``state()`` then warns (a ``UserWarning`` naming
        your line) before it waits.

        If the connection drops while ``state()`` waits (for example because
        the server is being restarted), it waits for the server to come back
        (up to 10 seconds) and asks once more. If the server has not answered
        within those 10 seconds, ``state()`` raises ``GameServerError``
        saying so: start the server again, then call ``state()`` again.
        ``move()`` never waits like that: a move must not be sent twice.

        If you also use ``poll()`` or ``states()``, ``state()`` gives you the
        next of the states the server sends for them (or waits for the
        answer to the request ``poll()`` keeps waiting), instead of asking
        again.

        Args:
            legal_moves (bool): also ask for the moves you may make now; they
                come under ``'legal_moves'`` (a list of dicts you can pass to
                ``move(**m)``, ``[]`` when it is not your turn, ``None`` when
                the game does not list its moves). Our server's extension:
                leave it off with a classic server.

        Returns:
            dict: the game state as you (or the player you observe) may see it.

        Raises:
            GameServerError: if you have not joined (or started observing) yet,
                the session has ended or was replaced, or the server could not
                be reached.

        Example::

            state = api.state()
            print(state['current'], state['gameover'])
        """
        if self._player_id is None:
            raise GameServerError('join a game first: call join() or observe() before state()')
        self._warn_if_own_turn()
        with self._poll_lock:
            if self._pushing:  # poll() or states() subscribed: the next state is pushed
                data = self._next_push(wait=True)
                if data is not None:
                    return self._hand(data)
                self._wait_for_server()  # its connection dropped: ask once more, below
            elif self._poll_sent:  # poll() has a request waiting: wait for its answer
                reply = self._poll_receive(wait=True)
                if reply is not None:
                    return self._hand(self._need(self._decode(reply, 'state'), 'state'))
                self._wait_for_server()  # its connection dropped: ask once more, below
        request = self._state_request(legal_moves)
        try:
            data = self._exchange(dict(request))
        except GameServerError as err:
            if not getattr(err, 'dropped', False):
                raise
            self._wait_for_server()
            data = self._exchange(request)
        return self._hand(self._need(data, 'state'))

    def _hand(self, state):
        """Give ``state`` to the user; ``states()`` starts with the last one given."""
        self._handed = self._seen = state
        self._acted = False
        return state

    def _warn_if_own_turn(self):
        """Warn when state() is about to wait for a change that only this player can make.

        A beginner who writes ``if state['current'] == my_id:`` (a list is never an int)
        never moves, and both players' state() wait until the server gives up, with no
        message at all. Only in the main thread: a program may move from it while another
        thread waits here (a chat, where it is always everybody's turn). A warning, not an
        error: the game may have a turn timer.
        """
        seen, me = self._seen, self._player_id
        if (threading.current_thread() is not threading.main_thread()
                or self._observer or self._acted or not isinstance(seen, dict)
                or seen.get('current') != [me] or seen.get('gameover') is not False):
            return
        level, frame = 1, sys._getframe()  # warn at the first caller outside this module
        while frame is not None and frame.f_code.co_filename == __file__:
            level, frame = level + 1, frame.f_back
        warnings.warn(
            f'state() waits until the game changes, but it is your turn: the last state '
            f'said current is [{me}], and you are player {me}. Nothing changes until you '
            f'move, so this may wait until the server gives up. Call move() before '
            f'state(); to check whose turn it is, write: if {me} in state[\'current\']',
            stacklevel=level)

    def poll(self, legal_moves=False):
        """Return the new state if one has arrived, else ``None``. Never waits.

        This is ``state()`` for programs with a window (tkinter, pygame): they
        must not wait in ``state()``, or the window freezes. Call ``poll()``
        again and again from the window's timer, e.g. every 100 ms; it gives
        you each state you have not seen yet, like ``state()`` does, and
        ``None`` while nothing has changed. The first call usually returns
        ``None``: the answer is on its way.

        How it works: on a connection of its own that stays open,
        ``poll()`` asks the server once to send each new state as it comes
        (our server's push extension; with a server that cannot, it keeps one
        ``state`` request waiting there instead) and only looks whether one
        has arrived. So it works the same with or without ``keep_alive``, and
        ``move()`` and ``restart()`` work as usual in between. States that
        arrive while you do not call ``poll()`` wait for you, oldest first.
        Call ``poll()`` from one thread only; ``close()`` (or the end of a
        ``with`` block) closes its connection.

        Only opening a connection takes a moment: on the first call, and when
        the server has closed it (``poll()`` then asks again on a new one).

        Args:
            legal_moves (bool): as in ``state()``; our server's extension.
                Pass the same value on every call: it applies to the request
                that ``poll()`` leaves waiting for the next change.

        Returns:
            dict or None: the new state, as ``state()`` returns it, or
            ``None`` if nothing has changed since the last state you got.

        Raises:
            GameServerError: as ``state()`` (for example: the session has
                ended or was replaced, or the server cannot be reached).
                After an error the next ``poll()`` asks the server again.

        Example::

            state = api.poll()
            if state is not None and my_id in state['current']:
                print('your turn')
        """
        if self._player_id is None:
            raise GameServerError('join a game first: call join() or observe() before poll()')
        if not self._poll_lock.acquire(blocking=False):
            return None  # another thread waits in state() for the same answer
        try:
            if self._pushing or self._subscribe(legal_moves):
                data = self._next_push(wait=False)
                if data is None and not self._pushing:  # the connection dropped:
                    self._subscribe(legal_moves)  # subscribe again, on a new one
                return data if data is None else self._hand(data)
            if not self._poll_sent:
                self._poll_send(legal_moves)
            reply = self._poll_receive(wait=False)
            if reply is None:
                if not self._poll_sent:  # the connection dropped: ask on a new one
                    self._poll_send(legal_moves)
                return None
            data = self._need(self._decode(reply, 'state'), 'state')
            try:
                self._poll_send(legal_moves)  # keep a request waiting for the next change
            except GameServerError:
                self._stop_polling()  # the next poll() asks again and reports the problem
            return self._hand(data)
        finally:
            self._poll_lock.release()

    def states(self, legal_moves=False):
        """Give each new state of the game, one after the other, as the server sends it.

        Use it in a ``for`` loop instead of calling ``state()`` again and
        again. The first state comes at once: the state ``state()`` or
        ``poll()`` gave you last, if you called one of them before, else the
        game as it is now. After that the loop waits until the game changes
        (a move by anyone, a restart) and then gives you the new state. The
        loop never ends by itself: leave it with ``break`` (for example once
        ``state['gameover']`` is true).

        Each state comes once and none is left out, exactly as with
        ``state()``. After a restart you first get the end of the old game,
        then the new game. The server sends the states on a connection of
        their own (our server's push extension); with a server that cannot,
        this asks with ``state()``. You may call ``move()`` and ``restart()``
        inside the loop.

        Args:
            legal_moves (bool): as in ``state()``; our server's extension.

        Yields:
            dict: each new state, as ``state()`` returns it.

        Raises:
            GameServerError: as ``state()`` (for example: the session has
                ended or was replaced).

        Example::

            for state in api.states():
                if state['gameover']:
                    break
                if my_id in state['current']:
                    api.move(position=state['board'].index(-1))
        """
        if self._player_id is None:
            raise GameServerError('join a game first: call join() or observe() before states()')
        with self._poll_lock:
            if not self._pushing:
                self._subscribe(legal_moves)
        handed, self._handed = self._handed, None
        if handed is not None:  # already seen: the server would not send it again
            yield handed
        while True:
            state = self.state(legal_moves)
            self._handed = None  # given by this loop: a later loop does not repeat it
            yield state

    def _subscribe(self, legal_moves):
        """Ask the server to push this view's states on the poll connection; whether it does.

        Our server (0.2.0 and later) answers a subscribe request; an older or
        classic server does not know it, and then poll() and states() keep a
        state request waiting instead (asked once per object).
        """
        if self._push_known is False:
            return False
        if self._poll_sent:  # a state request waits there already: no subscription now
            return False
        request = self._state_request(legal_moves)
        request['type'] = 'subscribe'
        request['keep_alive'] = True  # last key, as in _exchange
        raw = self._encode(request)
        self._stop_polling()
        sock = self._poll_sock = self._connect()
        try:
            deadline = time.monotonic() + _REPLY_TIMEOUT
            _wait_until(sock, deadline)
            sock.sendall(raw)
            reply, ending = self._receive_one(sock, deadline)
        except socket.timeout as e:  # before Python 3.10 not the same as TimeoutError
            self._stop_polling()
            raise self._late('subscribe', e) from None
        except OSError as e:
            self._stop_polling()
            raise self._os_error(e, 'could not subscribe at') from None
        except GameServerError:  # too large: its connection and bytes go too
            self._stop_polling()
            raise
        if ending != 'terminator':  # a classic server answers and closes: no push there
            self._stop_polling()
            self._push_known = False
            return False
        try:
            self._decode(reply, 'subscribe')
        except GameServerError as error:
            self._stop_polling()
            if 'unknown request type' in str(error):  # a server without push
                self._push_known = False
                return False
            raise
        self._push_known = self._pushing = True
        return True

    def _receive_one(self, sock, deadline):
        """Read until the first terminator; the bytes before it and the ending.

        What follows the terminator (the first pushes) is kept for ``_next_push``.
        Bounded in size, and in time by ``deadline`` (of the whole reply, not of
        each read: a server that drips a byte now and then must not hold us).
        """
        reply = self._poll_reply
        while True:
            end = self._poll_end()
            if end >= 0:
                first = bytes(reply[:end])
                del reply[:end + len(_TERMINATOR)]
                self._poll_began = time.monotonic()
                return first, 'terminator'
            _wait_until(sock, deadline)
            chunk = sock.recv(_BUFFER_SIZE)
            if not chunk:
                return bytes(reply), 'eof'
            reply += chunk
            if len(reply) > REPLY_MAX:
                raise self._too_large('subscribe')

    def _next_push(self, wait):
        """The next pushed state (oldest first); None if none has come and ``wait`` is false.

        None with ``wait`` means: the connection ended (the server stopped,
        or closed it); the subscription is gone, and the next poll() or
        states() asks again. A pushed error (the session ended or was
        replaced) ends the subscription and is raised.
        """
        pushed = self._poll_reply
        while True:
            end = self._poll_end()
            if end >= 0:
                message = bytes(pushed[:end])
                del pushed[:end + len(_TERMINATOR)]
                self._poll_began = time.monotonic()  # what is left began just now
                try:
                    data = self._decode(message, 'state')
                except GameServerError:
                    self._stop_polling()
                    raise
                return self._need(data, 'state')
            chunk = self._poll_read(wait, 'connection failed while waiting for a state from')
            if chunk is None:
                return None  # nothing (more) has arrived yet
            if not chunk:  # the server closed the connection
                self._stop_polling()
                return None

    def _state_request(self, legal_moves):
        request = {
            'type': 'state',
            'game': self._game,
            'session': self._session,
            'player_id': self._player_id,
            'key': self._key,
            'observer': self._observer}
        if legal_moves:
            request['legal_moves'] = True  # after the classic keys: extension
        return request

    def _poll_send(self, legal_moves):
        """Send a state request on the poll connection and leave it waiting there.

        A dead connection is replaced and the request sent again: a state
        request changes nothing at the server, so sending it twice is safe.
        """
        request = self._state_request(legal_moves)
        request['keep_alive'] = True  # last key, as in _exchange
        raw = self._encode(request)
        for attempt in (1, 2):
            sock = self._poll_sock
            if sock is not None:
                try:
                    usable = self._reusable(sock)
                except GameServerError:  # (its connection closed: forgotten with it)
                    self._stop_polling()
                    raise
                if not usable:
                    self._stop_polling()  # closed by the server while idle
                    sock = None
            if sock is None:
                sock = self._poll_sock = self._connect()
            try:
                _wait_until(sock, time.monotonic() + _REPLY_TIMEOUT)
                sock.sendall(raw)
                break
            except OSError as e:
                self._stop_polling()
                if attempt == 2:
                    raise self._os_error(e, 'could not send the request to') from None
        self._poll_sent = True

    def _poll_receive(self, wait):
        """Read what has arrived of the waiting reply; return the whole reply, or None.

        ``None`` means: not all there yet (and ``wait`` is false), or the
        connection ended before the first byte of the reply (then no request
        is waiting any more). A server without keep-alive ends its reply by
        closing the connection; that reply is returned too.
        """
        reply = self._poll_reply
        while True:
            end = self._poll_end()
            if end >= 0:
                if end + len(_TERMINATOR) != len(reply):
                    self._stop_polling()
                    raise self._error(f'corrupt json received from server '
                                      f'{self._address()}: bytes after the reply')
                self._poll_sent = False
                self._poll_reply = bytearray()
                return bytes(reply[:end])
            chunk = self._poll_read(wait, 'connection failed while waiting for the reply from')
            if chunk is None:
                return None  # nothing (more) has arrived yet
            if not chunk:  # the server closed the connection
                self._stop_polling()
                return bytes(reply) if reply else None

    def _poll_end(self):
        """Where the first terminator in ``_poll_reply`` begins, or -1 (the caller takes
        what ends there). Searches only what came since the last search: searched from
        its start after each read of 4 KB, a push of 16 MB took 21 s of CPU."""
        reply = self._poll_reply
        end = reply.find(_TERMINATOR, self._poll_seen)
        self._poll_seen = 0 if end >= 0 else max(0, len(reply) - len(_TERMINATOR) + 1)
        return end

    def _poll_read(self, wait, what):
        """One read on the poll connection, added to ``_poll_reply``: the bytes;
        ``b''`` once it is closed; None if nothing has arrived (only when ``wait``
        is false). Other failures raise, and so does a reply (or push) larger than
        ``REPLY_MAX`` or not whole ``_REPLY_TIMEOUT`` seconds after it began, and
        a wait of ``WAIT_MAX`` seconds in which nothing came."""
        pending = self._poll_reply
        if pending:
            deadline = self._poll_began + _REPLY_TIMEOUT
        else:  # poll() never waits; state() and states() wait for the others' moves
            deadline = _reply_deadline(True) if wait else None
        try:
            if deadline is not None and time.monotonic() >= deadline:
                raise socket.timeout
            if wait:
                _wait_until(self._poll_sock, deadline)
            else:
                self._poll_sock.setblocking(False)
            chunk = self._poll_sock.recv(_BUFFER_SIZE)
        except (BlockingIOError, ssl.SSLWantReadError):
            return None
        except (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            return b''
        except socket.timeout as e:  # before Python 3.10 not the same as TimeoutError
            self._stop_polling()
            raise self._late('state', e, begun=bool(pending)) from None
        except OSError as e:
            self._stop_polling()
            raise self._os_error(e, what) from None
        if chunk:
            if not pending:
                self._poll_began = time.monotonic()
            pending += chunk
            if len(pending) > REPLY_MAX:
                self._stop_polling()
                raise self._too_large('state')
        return chunk

    def _stop_polling(self):
        """Forget the waiting poll request (or the subscription) and close its connection."""
        sock, self._poll_sock = self._poll_sock, None
        self._poll_sent = False
        self._pushing = False
        self._poll_reply = bytearray()
        self._poll_seen = 0
        if sock is not None:
            _close(sock)

    def discover(self):
        """List the server's games and the sessions waiting for players.

        Works without joining. Our server's extension: a classic server does
        not know it.

        Returns:
            dict: ``{'games': [{'name', 'min_players', 'max_players',
            'description', 'documentation'}, ...], 'sessions': [{'game',
            'session', 'players', 'joined', 'names'}, ...]}``. A waiting
            auto-join session is listed with session ``'auto'``.

        Raises:
            GameServerError: if the server could not be reached or does not
                support discovery.

        Example::

            for game in api.discover()['games']:
                print(game['name'], game['description'])
        """
        return self._need(self._exchange({'type': 'discover'}), 'discover')

    def _wait_for_server(self):
        """Wait until the server answers requests again, ``_RETRY_WINDOW`` seconds at most.

        A bare connect is not proof: a server that is being killed may still
        accept a connection and then reset it. So the probe is a real request
        (discover; any answer will do, even a classic server's error). Every
        try ends with the window, also one that connects and gets no answer
        (a server that hangs), so this never waits longer.

        Raises:
            GameServerError: the server did not answer within the window; the
                message says what the last try found, and what to do.
        """
        deadline = time.monotonic() + _RETRY_WINDOW
        problem = 'no answer'
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                if self._probe(deadline, min(_CONNECT_TIMEOUT, left)):
                    return
                problem = 'it accepted the connection but did not answer'
            except GameServerError as e:
                problem = str(e)[len('api: '):]
            time.sleep(max(0.0, min(0.1, deadline - time.monotonic())))
        raise self._error(
            f'the connection to server {self._address()} was lost while state() waited, '
            f'and the server did not answer again within {_RETRY_WINDOW:g} s (last try: '
            f'{problem})', 'is the server still running? Start it again if it stopped, '
            'then call state() again')

    def _probe(self, deadline, connect_timeout):
        """Whether the server answers a discover request before ``deadline``.

        Raises:
            GameServerError: it could not be reached (refused, unknown, ...).
        """
        sock = self._connect(connect_timeout)
        try:
            _wait_until(sock, deadline)
            sock.sendall(json.dumps({'type': 'discover'}).encode() + _TERMINATOR)
            return bool(sock.recv(1))  # any answer will do; none (EOF): not yet
        except OSError:  # reset, or no answer before the deadline (socket.timeout)
            return False
        finally:
            _close(sock)

    def observe(self, code=None):
        """Watch another player: from now on ``state()`` shows what they see.

        Give the watched player's name as ``name`` when you create this
        object, and the session's name as ``session`` (the watched player must
        have joined with that name). Works only after the session has started
        and not for ``session='auto'``. An observer cannot move or restart.

        This is how you split a program in two: one program plays, another
        one shows the game, without threads.

        In a game with hidden information (cards, a secret choice) nobody
        may watch a player without that player's consent: the player's own
        program calls ``observer_code()`` and hands the code to the watching
        program, which passes it here as ``code``. (Our server's extension;
        for games without secrets no code is needed.)

        Args:
            code (str): the watched player's observer code, if the game needs one.

        Returns:
            int: the id of the player you now observe.

        Raises:
            GameServerError: if no name was given, the session is ``'auto'``,
                the session does not exist or has not started yet, nobody with
                that name plays in it, the game needs the player's observer
                code and it is missing or wrong, or the server could not be
                reached.

        Example::

            watcher = GameServerAPI('127.0.0.1', 4711, 'TicTacToe', session='duel', name='bob')
            bobs_id = watcher.observe()
        """
        if type(self._name) is not str or len(self._name) == 0:
            raise GameServerError('a valid name must be passed to the constructor: '
                                  'observe() watches the player who joined with that name, '
                                  'e.g. GameServerAPI(..., session=\'table7\', '
                                  'name=\'alice\')')
        if self._session == 'auto':
            raise GameServerError('observer mode not available for auto-join sessions: give '
                                  'the session a name in both programs, e.g. '
                                  'session=\'table7\'')
        _check(code is None or type(code) is str, 'code', 'a string', code)
        request = {
            'type': 'observe',
            'game': self._game,
            'session': self._session,
            'name': self._name}
        if code is not None:
            request['code'] = code  # extension: the watched player's consent
        data = self._exchange(request)
        reply = self._need(data, 'observe')
        self._stop_polling()
        self._player_id = reply['player_id']
        self._key = reply['key']
        self._observer = True
        self._handed = self._seen = None
        return self._player_id

    def observer_code(self):
        """Return a code that lets another program of yours watch what you see.

        In a game with hidden information, nobody may watch you without it.
        Hand the code only to your own program (for example the output window
        of a split client), which passes it to ``observe(code=...)``: whoever
        has it sees exactly what you see, but cannot move for you. Our
        server's extension: a classic server does not know it.

        Returns:
            str: the code.

        Raises:
            GameServerError: if you have not joined yet, you are an observer,
                or the server refused or could not be reached.

        Example::

            code = api.observer_code()
            print('watch me with: observe(code=%r)' % code)
        """
        if self._player_id is None:
            raise GameServerError('join a game first: call join() before observer_code()')
        if self._observer:
            raise GameServerError('only the player can hand out an observer code')
        data = self._exchange({
            'type': 'observer_code',
            'game': self._game,
            'session': self._session,
            'player_id': self._player_id,
            'key': self._key})
        if not isinstance(data, dict) or type(data.get('code')) is not str:
            raise self._error('unexpected reply received from server %s to observer_code: %r'
                              % (self._address(), data))
        return data['code']

    def restart(self):
        """Start a new game in the same session, with the same players and ids.

        You do not need to join again. The other players first get the
        finished game's final state from ``state()``, then the new game's.
        Useful to play many games in a row, e.g. to train an AI.

        Returns:
            None.

        Raises:
            GameServerError: if you have not joined yet, you are an observer,
                or the server refused or could not be reached.

        Example::

            if state['gameover']:
                api.restart()
        """
        if self._player_id is None:
            raise GameServerError('join a game first: call join() before restart()')
        if self._observer:
            raise GameServerError('cannot restart game as observer')
        self._acted = True
        self._exchange({
            'type': 'restart',
            'game': self._game,
            'session': self._session,
            'player_id': self._player_id,
            'key': self._key})

    def leave(self):
        """Give up your seat in the session: you are done playing in it.

        Call it when your program has finished with a session, for example
        after the last game. Without it the server keeps the session until
        nobody has sent a request for a while (about 17 minutes, unless the
        server says otherwise), and meanwhile it counts against the sessions
        your computer may start: a program that starts a new session for
        every game, again and again, is refused at about the 200th.

        Leave only once the game is over (or you stop for good): the others
        go on playing without you, and a turn that is yours stays yours, so
        they may wait for it in vain. Once every player has left, the session
        ends. Afterwards this object has no seat: ``move()``, ``state()`` and
        ``restart()`` need a new ``join()``. Our server's extension: a
        classic server does not know it (you then get a ``GameServerError``
        saying so, and the session ends by itself once it is idle).

        Returns:
            None.

        Raises:
            GameServerError: if you have not joined yet, you are an observer,
                the session is gone, it is a tournament's, the server does not
                know ``leave`` (a classic server), or the server could not be
                reached.

        Example::

            while not state['gameover']:
                ...
            api.leave()                     # done: the server can forget my seat
        """
        if self._player_id is None:
            raise GameServerError('join a game first: call join() before leave()')
        if self._observer:
            raise GameServerError('an observer has no seat to leave: just stop calling '
                                  'state()')
        self._exchange({
            'type': 'leave',
            'game': self._game,
            'session': self._session,
            'player_id': self._player_id,
            'key': self._key})
        self._stop_polling()
        self._player_id = self._key = None  # the key works no more, for anyone
        self._handed = self._seen = None

    def enable_tls(self, cert='', verify=None):
        """Encrypt the connection with TLS. Call it before ``join()``.

        Only do this if the server uses TLS. There are three ways:

        - ``enable_tls()``: encrypted, but the server's identity is not
          checked (anyone between you and the server could pretend to be it).
        - ``enable_tls(verify=True)``: encrypted, and the server's certificate
          is checked against the authorities your system trusts (a server with
          a certificate from Let's Encrypt, say), made out to the name you
          connect to. No file needed. A self-signed certificate is refused:
          ``join()`` raises ``GameServerError`` saying so.
        - ``enable_tls('cert.pem')``: checked as with ``verify=True``, and the
          certificate in the file (the server's, which its operator gives you)
          is trusted too: this is the way for a self-signed one. A relative
          file name is looked up next to this module first (like the classic
          module), then in the current directory.

        Returns:
            None.

        Raises:
            GameServerError: if the certificate file cannot be found or read,
                or a file is given with ``verify=False``.

        Example::

            api = GameServerAPI('games.example.org', 4711, 'TicTacToe', players=2)
            api.enable_tls(verify=True)
        """
        _check(verify is None or isinstance(verify, bool), 'verify', 'True, False or None',
               verify)
        if cert and verify is False:
            raise GameServerError(
                'api: enable_tls() was given a certificate file and verify=False: the file '
                'is only used to check the server; give one or the other')
        try:
            context = ssl.create_default_context()
            if cert:
                context.load_verify_locations(_find_file(cert))
            elif not verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        except (FileNotFoundError, IsADirectoryError, TypeError):
            raise GameServerError('the specified certificate file could not be found: '
                                  + repr(cert)) from None
        except (ssl.SSLError, OSError) as e:
            if _is_private_key(cert):  # the other file of the pair (key.pem for cert.pem)
                raise GameServerError(
                    f'api: {cert!r} is a private key, not a certificate: pass the server\'s '
                    'certificate (cert.pem); its key stays on the server, secret') from None
            raise GameServerError(f'TLS error while loading certificate {cert!r}: {e}') \
                from None
        self.close()  # connections kept so far are not encrypted
        self._tls_context = context
        self._tls_file = cert or None

    def close(self):
        """Close the connection kept open by ``keep_alive=True``.

        Does nothing otherwise. You may go on using the object afterwards: it
        opens a new connection when needed. A ``with`` block calls ``close()``
        for you.

        Returns:
            None.

        Example::

            with GameServerAPI('127.0.0.1', 4711, 'Echo', players=1, keep_alive=True) as api:
                api.join()
        """
        with self._lock:
            idle, self._idle = self._idle, []
        for sock in idle:
            _close(sock)
        self._stop_polling()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    def __del__(self):
        # An object that is thrown away closes its kept connections quietly.
        try:
            self.close()
        except Exception:  # e.g. while Python shuts down
            pass

    # ------------------------------------------------------------ internals

    def _exchange(self, request):
        """Send one request and return the reply's data, or raise.

        Classic mode: a new connection per request; the reply ends when the
        server closes the connection. Keep-alive mode: ``"keep_alive": true``
        is added as the last key, the reply ends with the terminator, and the
        connection is kept for the next request.

        When a *reused* kept-alive connection turns out to be dead:

        - if the server closed it while it was idle (noticed before sending),
          or sending failed, the server cannot have acted on the request: the
          request is sent again on a new connection;
        - if it ended after the request was sent but before a single reply
          byte, the server may or may not have acted on it: only read-only
          requests (state, observe) are sent again; a move, join or restart
          raises GameServerError rather than risk doing it twice.

        A new connection is never retried, so a request is sent at most twice.
        """
        kind = request['type']
        if self._keep_alive:
            request['keep_alive'] = True  # last key: classic bytes stay untouched
        raw = self._encode(request)
        if not self._keep_alive:
            reply, _ = self._round_trip(self._connect(), raw, kind, reused=False)
            return self._decode(reply, kind)

        sock, reused = self._checkout()
        try:
            reply, sock = self._round_trip(sock, raw, kind, reused)
        except _Closed:  # a reused connection was dead, and sending again is safe
            reply, sock = self._round_trip(self._connect(), raw, kind, reused=False)
        if sock is not None:
            self._checkin(sock)
        return self._decode(reply, kind)

    def _encode(self, request):
        """The request's bytes on the wire, terminator included; checked against the limit."""
        try:
            raw = json.dumps(request).encode() + _TERMINATOR
        except (TypeError, ValueError) as e:
            raise GameServerError(
                f'api: data could not be converted to JSON ({e}); a move may only contain '
                'str, int, float, bool, None, lists and dicts') from None
        if len(raw) > self._request_size_max:
            raise GameServerError(
                f'api: request size limit exceeded: the request has {len(raw)} bytes, '
                f'the server accepts at most {self._request_size_max}')
        return raw

    def _round_trip(self, sock, raw, kind, reused):
        """Send ``raw`` on ``sock`` and read the reply; close ``sock`` unless kept.

        Returns ``(reply_bytes, sock_or_None)``: the socket comes back only in
        keep-alive mode, when the reply ended with the terminator (a server
        that ignores keep_alive closes the connection after its reply).

        Raises:
            _Closed: ``reused`` was set and sending again is safe by the rule
                in ``_exchange``.
            GameServerError: for every other problem.
        """
        try:
            try:
                _wait_until(sock, time.monotonic() + _REPLY_TIMEOUT)
                sock.sendall(raw)
            except (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
                # The server closed the connection. It may have answered first
                # (e.g. an error about the request): read what it sent.
                reply, ending = self._receive(sock, kind)
                if reply:
                    return self._keep(sock, reply, ending)
                if reused:
                    raise _Closed from None
                raise self._error(f'connection closed by server {self._address()} while '
                                  'sending the request') from None
            except socket.timeout:  # before Python 3.10 not the same as TimeoutError
                raise self._error(f'connection timed out while sending to {self._address()}') \
                    from None
            except OSError as e:
                raise self._os_error(e, 'could not send the request to') from None
            reply, ending = self._receive(sock, kind)
            if reply:
                return self._keep(sock, reply, ending)
            if reused and kind in _READ_ONLY:
                raise _Closed
            if reused:
                raise self._error(
                    f'connection closed by server {self._address()} before it answered; the '
                    f'{kind} may or may not have reached the server, call state() to find out')
            if ending == 'reset':
                what = f'connection reset by server {self._address()} before it answered'
            else:
                what = (f'empty or no response received from server {self._address()}: it '
                        'closed the connection without answering')
            # A GameServerError (a class of its own showed as "game_server_api._Dropped" in
            # a student's traceback); marked, for state()'s one retry of a restarting server.
            dropped = self._error(what, self._unanswered_hint())
            dropped.dropped = True
            raise dropped
        except BaseException:
            _close(sock)
            raise

    def _unanswered_hint(self):
        """What to do about a new connection the server closed without a word. TLS is
        advised only while it may be the cause: this object sent without TLS and never
        had an answer. (A TLS port of our server answers a request without TLS in plain
        text, since 2026-11-30; a classic server, or an older one, closed it so.) Until
        2026-12-01 it was advised also to a program that had enabled TLS, or had played
        on that port for an hour (a server killed meanwhile, a proxy whose server is
        down)."""
        if self._tls_context is None and not self._answered:
            return ('if the server uses TLS, call enable_tls() before join(); otherwise, is '
                    'this really a game server?')
        return ('did the server stop or crash? If it runs, is this really a game server, '
                'on the right port?')

    def _keep(self, sock, reply, ending):
        self._answered = True  # (``_unanswered_hint``)
        if self._keep_alive and ending == 'terminator':
            return reply, sock
        _close(sock)
        return reply, None

    def _waits_unbounded(self, kind):
        """Whether ``kind``'s answer may take longer than ``WAIT_MAX``: a tournament's join
        waits for your next game for as long as registration or a round takes (a round
        waits for its slowest game: hours), and the tournament's end or cancel ends it."""
        return kind == 'join' and self._session.startswith(_TOURNAMENT_PREFIX)

    def _receive(self, sock, kind):
        """Read one reply: until EOF, or in keep-alive mode until the terminator.

        Returns ``(reply_bytes, ending)``: ``ending`` is ``'terminator'``,
        ``'eof'`` (the server closed the connection) or ``'reset'`` (only when
        ``reply_bytes`` is empty: the connection ended before a single byte).
        Bounds: ``REPLY_MAX`` bytes, and ``_REPLY_TIMEOUT`` seconds from the
        request (from the reply's first byte for join and state, which wait
        for the other players: up to ``WAIT_MAX`` seconds for that byte).
        """
        reply = bytearray()
        deadline = _reply_deadline(kind in _WAITING, self._waits_unbounded(kind))
        try:
            while True:
                _wait_until(sock, deadline)
                chunk = sock.recv(_BUFFER_SIZE)
                if not chunk:
                    return reply, 'eof'
                if not reply and kind in _WAITING:  # join and state: the reply has begun
                    deadline = time.monotonic() + _REPLY_TIMEOUT
                reply += chunk
                if len(reply) > REPLY_MAX:
                    raise self._too_large(kind)
                if self._keep_alive:
                    end = reply.find(_TERMINATOR, max(0, len(reply) - len(chunk) - 3))
                    if end >= 0:
                        if end + len(_TERMINATOR) != len(reply):
                            raise self._error(f'corrupt json received from server '
                                              f'{self._address()}: bytes after the reply')
                        return reply[:end], 'terminator'
        except (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            if not reply:
                return reply, 'reset'
            raise self._error(f'connection closed by server {self._address()} in the middle '
                              'of the reply') from None
        except socket.timeout as e:  # before Python 3.10 not the same as TimeoutError
            raise self._late(kind, e, begun=bool(reply) or kind not in _WAITING) from None
        except OSError as e:
            raise self._os_error(e, 'connection failed while waiting for the reply from') \
                from None
        finally:
            _wait_until(sock, None)

    def _too_large(self, kind):
        """The error for a reply that has grown larger than ``REPLY_MAX``."""
        return self._error(
            f'the reply from server {self._address()} to {kind} is larger than '
            f'{REPLY_MAX:,} bytes (game_server_api.REPLY_MAX)',
            'is this really a game server? If your game\'s states really are that large, '
            'raise the limit after the import: game_server_api.REPLY_MAX = 64 * 1024 * 1024')

    def _count_items(self, reply, kind):
        """Raise if ``reply`` holds more than ``REPLY_ITEMS_MAX`` values (before decoding it)."""
        items = reply.count(b',') + reply.count(b'{') + reply.count(b'[')
        if items > REPLY_ITEMS_MAX:
            raise self._error(
                f'the reply from server {self._address()} to {kind} holds more than '
                f'{REPLY_ITEMS_MAX:,} values (game_server_api.REPLY_ITEMS_MAX): it has '
                f'{items:,} commas, lists and dicts',
                'is this really a game server? If your game\'s states really are that large, '
                'raise the limit after the import: game_server_api.REPLY_ITEMS_MAX = 5_000_000')

    def _late(self, kind, timeout, begun=True):
        """The error for a reply that did not come (whole) in time: ``timeout`` is our
        deadline's socket.timeout, or (Python 3.10+: the same class) the system's
        ETIMEDOUT for a connection whose keep-alive probes went unanswered. ``begun``
        false: join or state got no byte of its answer within ``WAIT_MAX``."""
        if timeout.errno is not None:
            return self._error(
                f'the connection to server {self._address()} was lost while waiting for '
                f'its reply to {kind}: {_reason(timeout)} (the system checks a silent '
                f'connection after {_KEEPALIVE_IDLE} s; the server answered none of '
                f'{_KEEPALIVE_COUNT} checks)', 'is the server still running, and the network '
                'between up?')
        if not begun:
            return self._error(
                f'server {self._address()} did not answer {kind} within {WAIT_MAX:g} s '
                f'(game_server_api.WAIT_MAX): {kind} waits until the other players have '
                'joined or moved, and nothing came for that long',
                'are the other players\' programs still running? Is this really a game '
                'server? If your games really wait longer, raise the limit after the import: '
                'game_server_api.WAIT_MAX = 4 * 3600 (None: no limit)')
        return self._error(
            f'server {self._address()} did not send its whole reply to {kind} within '
            f'{_REPLY_TIMEOUT:g} s',
            'is this really a game server? If it is, it may be overloaded: try again later')

    def _corrupt(self, text):
        if text.startswith('HTTP/'):  # e.g. the port of the server's dashboard
            hint = (f'port {self._port} is a web server\'s (the game server\'s dashboard?), '
                    'not a game server\'s: use the game server\'s port, 4711 unless its '
                    'operator chose another')
        else:
            hint = 'is this really a game server, on the right port?'
        return self._error(f'corrupt json received from server {self._address()}: the reply '
                           f'began with {text[:60]!r}', hint)

    def _cut_short(self, reply):
        """The error for a reply whose JSON (or last character) stops at its end: the
        server closed the connection before the end of its reply."""
        return self._error(f'corrupt json received from server {self._address()}: the reply '
                           f'stops in the middle after {len(reply):,} bytes (the server closed '
                           'the connection before its end)',
                           'did the server stop or crash? Start it again if so, then try again')

    def _decode(self, reply, kind):
        """Turn the reply's bytes (``bytes`` or ``bytearray``) into its data; raise for
        error replies."""
        if reply[:2] in (b'\x15\x03', b'\x16\x03'):  # a TLS record: an alert or a handshake
            raise self._error(f'could not decode binary data received from server '
                              f'{self._address()}: it answered with TLS',
                              'the server uses TLS: call enable_tls() before join()')
        try:
            text = reply.decode()
        except UnicodeDecodeError as e:
            if e.reason == 'unexpected end of data':  # its last character cut in two
                raise self._cut_short(reply) from None
            raise self._error(f'could not decode binary data received from server '
                              f'{self._address()}',
                              'is this really a game server, on the right port?') from None
        if len(reply) > REPLY_ITEMS_MAX:  # (a shorter reply cannot hold more values)
            self._count_items(reply, kind)
        try:
            response = json.loads(text, **_json_options())
        except json.JSONDecodeError as e:
            end = len(text.rstrip())  # the reply's JSON stopped at its end: cut short
            if end and (e.pos >= end or e.msg.startswith('Unterminated string')):
                raise self._cut_short(reply) from None
            raise self._corrupt(text) from None
        except ValueError as e:
            if 'digits' in str(e):  # Python's limit or _parse_int's
                raise self._error(f'the reply from server {self._address()} to {kind} holds '
                                  f'a number of more than '
                                  f'{_python_digits_max() or _INT_DIGITS_MAX} digits',
                                  'is this really a game server?') from None
            raise self._corrupt(text) from None
        except RecursionError:  # nested thousands deep
            raise self._corrupt(text) from None
        status = response.get('status') if isinstance(response, dict) else None
        field = 'data' if status == 'ok' else 'message'
        if status not in ('ok', 'error', 'illegalmove') or field not in response:
            raise self._error(f'unexpected reply received from server {self._address()}: '
                              f'{_printable(text[:200])}')
        may_be_unprintable = _MAY_BE_UNPRINTABLE.search(text) is not None
        if status == 'ok':
            if kind == 'state' and may_be_unprintable:
                return _printable_data(response['data'])
            return response['data']
        message = response['message']
        if may_be_unprintable:
            message = _printable_data(message)
        if status == 'illegalmove' and kind == 'move':
            if type(message) is list:
                raise IllegalMove(*message)
            raise IllegalMove(message)
        if type(message) is str:
            message += self._advice(message, kind)
        raise GameServerError(message)

    def _advice(self, message, kind):
        """What to do about a server's error ``message`` to a ``kind`` request, as
        ``'; ...'`` to add to it, or ``''``. The server's texts are the classic protocol's,
        fixed and short (``framework: not your turn``); the advice is this module's."""
        me = self._player_id
        if message == 'framework: not your turn':
            advice = (f'you are player {me}: move only when {me} is in state()[\'current\'] '
                      '(state() waits until the others have moved)')
        elif message == 'framework: game has ended':
            advice = ('the game is over (state()[\'gameover\'] is True): stop your loop '
                      'there, or call restart() to play again')
        elif message == 'framework: game session already full':
            advice = (f'all players of session {self._session!r} have joined: choose another '
                      'session name, or pass players=N to start a new game under this one')
        elif message == 'framework: no such game session' and kind == 'observe':
            advice = (f'nobody has started session {self._session!r} of {self._game}: check '
                      'the session name, and start the player\'s program first')
        elif message in ('framework: no such game session', 'framework: invalid key',
                         'framework: game session has timed out'):
            advice = ('the session you joined is gone (nobody sent a request for too long, '
                      'the server was restarted without its store, or a new session replaced '
                      'it): call join() again')
        elif message == 'framework: game session was overwritten':
            advice = ('someone started a new session with the same name: use a session name '
                      'of your own')
        elif message == 'framework: timeout while waiting for others to join':
            advice = ('the other players did not join in time: start all players\' programs '
                      'with the same game and session, then join again')
        elif message == 'framework: name already in use':
            advice = f'another player of this session joined as {self._name!r}: choose another name'
        elif message == 'framework: no such player':
            advice = (f'nobody in session {self._session!r} joined with name={self._name!r}: '
                      'use the name and session the watched player\'s program passed to '
                      'GameServerAPI')
        elif message == 'framework: game has not yet started':
            advice = 'not all players have joined yet: call observe() again once they have'
        elif kind == 'leave' and 'unknown request type' in message:
            advice = ('this server does not know leave(): it is a classic server, or an '
                      'older one. Nothing is lost: it ends the session by itself once nobody '
                      'has sent a request for a while, so just stop calling leave()')
        elif re.match(r'framework: game \S+: \w+\(\) ', message):
            advice = ('this is a bug in the game\'s code, not in your program: tell the '
                      'game\'s author (the server\'s log shows where)')
        else:
            return ''
        return '; ' + advice

    def _need(self, data, request):
        """Check that an ok reply carries what the request promises; return it. (A state
        without 'current' or 'gameover' was a KeyError in the student's loop.)"""
        if not isinstance(data, dict) or (request == 'state' and not (
                type(data.get('current')) is list and 'gameover' in data)) or (
                request in ('join', 'observe') and not (
                type(data.get('player_id')) is int and type(data.get('key')) is str
                and type(data.get('session', '')) is str
                and type(data.get('request_size_max', 1)) is int)):
            raise self._error(f'unexpected reply received from server {self._address()} to '
                              f'{request}: {data!r}'[:300])
        return data

    # -------------------------------------------------------- connections

    def _connect(self, timeout=None):
        """Open a new connection (with TLS if enabled) or raise GameServerError.

        ``timeout``: seconds for looking up the server's name (``_lookup``), again for
        connecting (to each of its addresses in turn), and again for the TLS handshake
        (default ``_CONNECT_TIMEOUT``).
        """
        if timeout is None:
            timeout = _CONNECT_TIMEOUT
        address = self._address()
        what = f'unable to connect to {address}'
        try:
            sock = _open(_lookup(self._server, self._port, timeout), timeout)
        except _LookupTimeout:
            raise self._error(f'{what}: looking up the name {self._server!r} took longer '
                              f'than {timeout:g} s',
                              'check the spelling; is the network (its name server) up? An IP '
                              'address such as 127.0.0.1 needs no lookup') from None
        except socket.gaierror as e:
            raise self._error(f'{what}: unknown server name {self._server!r} ({_reason(e)})',
                              'check the spelling, or use an IP address such as 127.0.0.1') \
                from None
        except ConnectionRefusedError:
            if _is_local(self._server):
                hint = ('is the server running? Start it first: python3 -m gameserver '
                        '(and check the port number)')
            else:
                hint = 'is the server running on that computer, and is the port number right?'
            raise self._error(f'{what}: connection refused', hint) from None
        except socket.timeout:  # before Python 3.10 not the same as TimeoutError
            raise self._error(f'{what}: connection timed out after {timeout:g} s',
                              'is the address right? Is a firewall blocking the port?') \
                from None
        except OSError as e:
            raise self._os_error(e, 'unable to connect to', 'is the address right?') from None
        _check_while_silent(sock)

        if self._tls_context is not None:
            try:
                sock = self._tls_context.wrap_socket(sock, server_hostname=self._server)
            except ssl.SSLCertVerificationError as e:
                _close(sock)
                raise self._error(
                    f'TLS error: the certificate of {address} could not be verified '
                    f'({e.verify_message or _reason(e)})', self._unverified_hint(e)) from None
            except socket.timeout:  # before Python 3.10 not the same as TimeoutError
                _close(sock)
                raise self._error(f'TLS error: the TLS handshake with {address} timed out',
                                  'does the server use TLS? If not, do not call enable_tls()') \
                    from None
            except OSError as e:  # ssl.SSLError is an OSError
                _close(sock)
                raise self._error(
                    f'TLS error: the TLS handshake with {address} failed ({_reason(e)})',
                    'does the server use TLS? If not, do not call enable_tls()') from None
        sock.settimeout(None)  # the server handles timeouts; state() may wait long
        return sock

    def _checkout(self):
        """Return ``(socket, reused)``: a kept connection if one is usable, else a new one."""
        while True:
            with self._lock:
                sock = self._idle.pop() if self._idle else None
            if sock is None:
                return self._connect(), False
            if self._reusable(sock):
                return sock, True

    def _reusable(self, sock):
        """Whether a kept connection may carry the next request: it must have nothing to
        read. One the server closed while it was idle (or ended with its last word, as it
        stops: ``_last_word``) is closed here, and the request goes on a new one.

        Raises:
            GameServerError: something else came on it, which no request asked for (one
                request answered twice?): taken for the next request's reply, it would
                shift every reply after it. The connection is closed.
        """
        came = _unasked(sock)
        if came is None:
            return True
        _close(sock)
        if came and not _last_word(came):
            raise self._error(
                f'server {self._address()} sent a reply that no request asked for '
                f'({came[:100]!r}, after its reply to the request before)',
                'is this really a game server? The connection is closed: the next request '
                'goes on a new one')
        return False

    def _checkin(self, sock):
        """Keep a connection for the next request (a few at most, for threads)."""
        with self._lock:
            if len(self._idle) < _MAX_IDLE_SOCKETS:
                self._idle.append(sock)
                return
        _close(sock)

    def _address(self):
        if ':' in self._server:  # an IPv6 address
            return f'[{self._server}]:{self._port}'
        return f'{self._server}:{self._port}'

    def _os_error(self, error, what, hint=None):
        if isinstance(error, ssl.SSLError):
            what, hint = 'TLS error: ' + what, None
        return self._error(f'{what} {self._address()}: {_reason(error)}', hint)

    def _unverified_hint(self, error):
        """What to do about a server certificate that failed the check (``error``)."""
        code = getattr(error, 'verify_code', None)
        if code in (_X509_HOSTNAME_MISMATCH, _X509_IP_MISMATCH):
            return (f'the certificate is not made out to {self._server!r}: connect with the '
                    'host name it is made out to')
        if code == _X509_EXPIRED:
            return 'its operator must renew it (or is this computer\'s clock wrong?)'
        if self._tls_file is not None:
            return ('is the file given to enable_tls() the certificate of this server, and '
                    f'is it made out to {self._server!r}?')
        return ('enable_tls(verify=True) trusts the authorities your system trusts, and '
                'none of them vouches for this certificate (a self-signed one?): ask the '
                "server's operator for its certificate file and call enable_tls('cert.pem') "
                'with it instead (on macOS with Python from python.org, run its "Install '
                'Certificates.command" once if no certificate can be verified)')

    @staticmethod
    def _error(what, hint=None):
        """A GameServerError from this module: ``api: <what happened>; <what to do>``."""
        return GameServerError('api: ' + what + ('; ' + hint if hint else ''))


# ---------------------------------------------------------------- helpers


def _check(ok, argument, expected, value):
    if not ok:
        raise AssertionError(f'Invalid argument: {argument} (must be {expected}, got {value!r})')


def _printable(text):
    """``text`` with its control characters written as escapes (see ``_UNPRINTABLE``)."""
    return _UNPRINTABLE.sub(lambda match: ascii(match.group())[1:-1], text)


def _printable_data(data):
    """``data`` (decoded JSON) with every text in it, keys too, made ``_printable``.

    Without recursion: a reply nested as deep as the JSON decoder allows must not
    overflow the stack here."""
    if isinstance(data, str):
        return _printable(data)
    stack = [data]
    while stack:
        container = stack.pop()
        if isinstance(container, list):
            for index, value in enumerate(container):
                if isinstance(value, str):
                    container[index] = _printable(value)
                elif isinstance(value, (list, dict)):
                    stack.append(value)
        elif isinstance(container, dict):
            items = list(container.items())
            container.clear()
            for key, value in items:
                if isinstance(value, str):
                    value = _printable(value)
                elif isinstance(value, (list, dict)):
                    stack.append(value)
                container[_printable(key)] = value
    return data


def _reason(error):
    """A short readable reason for an OSError."""
    if isinstance(error, ssl.SSLError) and getattr(error, 'reason', None):
        return str(error.reason).lower().replace('_', ' ')
    return getattr(error, 'strerror', None) or str(error) or type(error).__name__


def _is_local(host):
    return host in ('localhost', '::1', '0.0.0.0') or host.startswith('127.')


# Decimal text to int takes time quadratic in its digits: a 16 MB number took 17 minutes of
# CPU. Python 3.11 (and 3.8.14, 3.9.14, 3.10.7) refuses more than 4300 digits by itself;
# before those, and where a program switched that off or raised it (for its own big
# numbers: a limit of 10**8 digits bounds nothing), the module refuses them.
_INT_DIGITS_MAX = 4300


def _python_digits_max():
    """Python's own limit of an int's digits if it is one (0 < it <= ``_INT_DIGITS_MAX``);
    else None, and ``_parse_int`` keeps that bound."""
    get_limit = getattr(sys, 'get_int_max_str_digits', None)
    limit = get_limit() if get_limit is not None else 0
    return limit if 0 < limit <= _INT_DIGITS_MAX else None


def _json_options():
    """What json.loads needs to refuse numbers of too many digits, where Python does not."""
    return {} if _python_digits_max() is not None else {'parse_int': _parse_int}


def _parse_int(text):
    if len(text.lstrip('-')) > _INT_DIGITS_MAX:
        raise ValueError(f'a number of more than {_INT_DIGITS_MAX} digits')
    return int(text)


def _not_keywords(args, kwargs):
    """What ``move(4)`` or ``move({'position': 4})`` is told: how to write the move."""
    if len(args) == 1 and isinstance(args[0], dict) and not kwargs:
        given = args[0]
        written = ', '.join(f'{name}={value!r}' for name, value in given.items())
        if all(isinstance(name, str) and name.isidentifier() for name in given) and \
                len(written) <= 200:
            return ('move() takes the move as keyword arguments, not as a dict: write '
                    f'move({written}), or put ** before the dict: move(**your_dict)')
        return ('move() takes the move as keyword arguments, not as a dict: put ** before '
                'the dict: move(**your_dict)')
    shown = ', '.join(repr(value) for value in args)
    if len(shown) > 100:
        shown = shown[:100] + '...'
    return (f'move() takes the move as keyword arguments, not as {shown}: write the name '
            'of each value, as the game describes it, e.g. move(position=4) for TicTacToe, '
            'not move(4)')


def _reply_deadline(waiting, unbounded=False):
    """When a reply must have come (``time.monotonic()``; None: never): ``waiting`` for
    join and state, which wait for the other players before their reply begins, for
    ``WAIT_MAX`` seconds unless ``unbounded``."""
    if not waiting:
        return time.monotonic() + _REPLY_TIMEOUT
    return None if WAIT_MAX is None or unbounded else time.monotonic() + WAIT_MAX


def _wait_until(sock, deadline):
    """Let ``sock``'s next calls wait until ``deadline`` (``time.monotonic()``), or forever.

    Raises:
        socket.timeout: ``deadline`` has passed. (Until 2026-12-01 each read past it waited
            1 ms, and a reply went on while its bytes came that often: a server that sent
            a byte every 0.5 ms held a call for hours, up to REPLY_MAX.)
    """
    if deadline is None:
        sock.settimeout(None)
        return
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout('timed out')
    sock.settimeout(left)


class _LookupTimeout(Exception):
    """Internal: a server name's lookup did not end in time (``_lookup``)."""


# The name lookups under way, by (name, port), each {'done': Event, 'addresses': list,
# 'error': exception}: a connection to a name whose lookup is under way already waits for
# that one, so a name server that never answers holds one thread per name at most.
_lookups = {}
_lookups_lock = threading.Lock()


def _lookup(host, port, timeout):
    """``socket.getaddrinfo(host, port)`` for a TCP connection, within ``timeout`` seconds.

    An IP address is no lookup (answered at once). A name is looked up on a thread of
    its own: ``getaddrinfo`` cannot be interrupted, and a name server that does not
    answer held ``socket.create_connection`` for the system resolver's own time (5 s
    per try and server, and more), whatever its timeout. A lookup that takes longer
    than ``timeout`` goes on without the caller.

    Raises:
        _LookupTimeout: not done within ``timeout``.
        socket.gaierror: the name is not found (or what ``getaddrinfo`` raised).
    """
    try:
        return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except socket.gaierror:
        pass  # not an IP address: a name, looked up below
    with _lookups_lock:
        pending = _lookups.get((host, port))
        if pending is None:
            pending = _lookups[(host, port)] = {
                'done': threading.Event(), 'addresses': [], 'error': None}
            threading.Thread(target=_look_up, args=(host, port, pending), daemon=True,
                             name='game_server_api lookup of %r' % host[:100]).start()
    if not pending['done'].wait(timeout):
        raise _LookupTimeout(host)
    if pending['error'] is not None:
        raise pending['error']
    return pending['addresses']


def _look_up(host, port, pending):
    """The thread of one lookup (``_lookup``)."""
    try:
        pending['addresses'] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except Exception as e:  # handed to every caller waiting for it
        pending['error'] = e
    finally:
        with _lookups_lock:
            if _lookups.get((host, port)) is pending:
                del _lookups[(host, port)]
        pending['done'].set()


def _open(addresses, timeout):
    """A TCP connection to the first of ``addresses`` (``_lookup``) that takes it, each
    tried within ``timeout`` seconds, as ``socket.create_connection`` does.

    Raises:
        OSError: no address took it (the last one's error).
    """
    error = OSError('the name has no address')
    for family, kind, proto, _, where in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(where)
            return sock
        except OSError as e:
            _close(sock)
            error = e
    raise error


def _check_while_silent(sock):
    """Let the system check a silent connection (see ``_KEEPALIVE_IDLE``); where it
    cannot, the connection works as before."""
    for level, name, value in (
            (socket.SOL_SOCKET, 'SO_KEEPALIVE', 1),
            (socket.IPPROTO_TCP, 'TCP_KEEPIDLE', _KEEPALIVE_IDLE),
            (socket.IPPROTO_TCP, 'TCP_KEEPALIVE', _KEEPALIVE_IDLE),  # macOS's name for it
            (socket.IPPROTO_TCP, 'TCP_KEEPINTVL', _KEEPALIVE_INTERVAL),
            (socket.IPPROTO_TCP, 'TCP_KEEPCNT', _KEEPALIVE_COUNT)):
        option = getattr(socket, name, None)
        if option is not None:
            try:
                sock.setsockopt(level, option, value)
            except OSError:
                pass


def _unasked(sock):
    """What an idle kept connection holds: None if nothing (it may carry a request),
    ``b''`` if the server closed or reset it, else the bytes that came unasked."""
    try:
        if not (isinstance(sock, ssl.SSLSocket) and sock.pending()) and \
                not select.select([sock], [], [], 0)[0]:
            return None
    except ValueError:  # a descriptor select() cannot take (above 1023): read to see
        pass
    except OSError:
        return b''
    try:
        sock.setblocking(False)
        return sock.recv(_BUFFER_SIZE)
    except (BlockingIOError, ssl.SSLWantReadError):
        return None  # nothing after all (a TLS session ticket, read now)
    except OSError:  # reset, or a TLS connection ended
        return b''
    finally:
        sock.settimeout(None)


def _last_word(came):
    """Whether ``came``, found on an idle kept connection, is the server's last word before
    it closes the connection (our server says ``server: server is shutting down`` so to
    every connection between requests as it stops): an error reply without the
    terminator, not a reply that no request asked for."""
    if _TERMINATOR in came:
        return False
    try:
        reply = json.loads(came.decode())
    except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
        return False
    return isinstance(reply, dict) and reply.get('status') == 'error'


def _close(sock):
    try:
        sock.close()
    except OSError:
        pass


def _is_private_key(file_name):
    """Whether the file named as a certificate holds a PEM private key instead."""
    try:
        with open(_find_file(file_name), 'rb') as f:
            return b'PRIVATE KEY-----' in f.read(1 << 16)
    except (OSError, TypeError):
        return False


def _find_file(file_name):
    """Resolve a certificate file name the way the classic module did, with a fallback."""
    if type(file_name) is not str:
        raise TypeError(file_name)
    if os.path.isabs(file_name):
        return file_name
    beside_module = os.path.join(os.path.dirname(os.path.abspath(__file__)), file_name)
    if os.path.exists(beside_module):
        return beside_module
    return os.path.abspath(file_name)
