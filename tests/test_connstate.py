"""A connection's states (``_connstate.py``): the table, and what it allows.

What a connection does in each state is in tests/test_connection.py.
"""

from __future__ import annotations

import pytest

from gameserver._connstate import (
    TRANSITIONS,
    ConnectionStateError,
    Event,
    State,
    next_state,
)


def test_every_state_is_in_the_table_and_closed_is_final() -> None:
    assert set(TRANSITIONS) == set(State)
    assert TRANSITIONS[State.CLOSED] == {}
    for state in set(State) - {State.CLOSED}:
        assert next_state(state, Event.GONE) is State.CLOSED  # the socket may close anytime


def test_the_life_of_a_request_is_a_path_through_the_table() -> None:
    state = State.READING
    for event, expected in [(Event.REQUEST, State.SERVING), (Event.WAIT, State.WAITING),
                            (Event.WAKE, State.SERVING), (Event.REPLIED, State.READING),
                            (Event.REQUEST, State.SERVING), (Event.LAST_REPLY, State.CLOSING),
                            (Event.GONE, State.CLOSED)]:
        state = next_state(state, event)
        assert state is expected


@pytest.mark.parametrize(("state", "event"), [
    (State.SERVING, Event.REQUEST),  # one request at a time
    (State.WAITING, Event.REPLIED),  # no reply before the wait is over
    (State.CLOSING, Event.REQUEST),  # nothing is read any more
    (State.DRAINING, Event.REQUEST),  # what a refused client sends is dropped
    (State.CLOSED, Event.GONE),
])
def test_a_transition_not_in_the_table_is_a_bug_reported_by_name(state: State,
                                                                 event: Event) -> None:
    with pytest.raises(ConnectionStateError, match=f"from {state.name} on {event.name}"):
        next_state(state, event)
