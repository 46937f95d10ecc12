"""Counting a pickle's opcodes without running it: what a hostile pickle cannot hide.

Unpickling plain data can still cost far more than its bytes: one opcode
makes an object (an empty set of 216 bytes from one byte), and a memo index
makes the C unpickler allocate its memo up to that index (``LONG_BINPUT``
1,000,000,000, twelve bytes in all, zeroes 16 GB). ``opcodes`` walks a
pickle as ``pickletools.genops`` would, without its Python calls per opcode,
and refuses a memo index larger than the opcodes before it. The server
walks what a worker sends (``_channel.decode_plain``) and a saved game read
back from the store (``_unpickle``) before it unpickles them.
"""

from __future__ import annotations

import pickletools

# What follows each opcode (``pickletools.opcodes``), as ``opcodes`` skips it: a fixed
# number of bytes (>= 0), or one of these.
_LINE, _LENGTH1, _LENGTH4, _LENGTH4U, _LENGTH8U = -1, -2, -3, -4, -5  # (pickletools' ``n``)
_TWO_LINES, _STOP, _UNKNOWN, _PUT, _LONG_BINPUT = -6, -7, -8, -9, -10
_ARGUMENTS = [_UNKNOWN] * 256
for _op in pickletools.opcodes:
    _ARGUMENTS[ord(_op.code)] = {
        "GLOBAL": _TWO_LINES, "INST": _TWO_LINES, "STOP": _STOP, "PUT": _PUT,
        "LONG_BINPUT": _LONG_BINPUT}.get(_op.name, 0 if _op.arg is None else _op.arg.n)
_RUN = 64  # opcodes of one run counted with one slice (the ids of a list: a few kinds)


def opcodes(payload: bytes, limit: int) -> int:
    """How many opcodes unpickling ``payload`` runs (as ``pickletools.genops`` counts them,
    up to its STOP), or ``limit`` if it runs that many or more.

    ``genops`` makes several Python calls per opcode: ~1 µs each, 45 ms of the
    server's loop for a reply listing 40,000 players on turn. Here an opcode
    costs a few bytecodes, and a run of one opcode with a fixed-size argument
    (a list's ids) is counted by a slice, in C.

    Raises:
        ValueError: an opcode no pickle has, the payload ends before its STOP, or a
            memo index is larger than the opcodes before it (a pickler numbers its memo
            entries from 0, at most one per opcode; ``BINPUT``'s byte cannot be large).
        IndexError: it ends inside an opcode's length.
    """
    arguments = _ARGUMENTS
    end = len(payload)
    at = count = 0
    while count < limit:
        if at >= end:
            raise ValueError("the pickle ends before its STOP")
        op = payload[at]
        size = arguments[op]
        if size >= 0:
            step = size + 1
            after = at + step
            if after < end and payload[after] == op:  # a run: counted at once
                window = payload[at:at + step * _RUN:step]
                run = len(window) - len(window.lstrip(window[:1]))
                count += run
                at += step * run
            else:
                count += 1
                at = after
            continue
        count += 1
        if size == _LENGTH1:
            at += 2 + payload[at + 1]
        elif size == _LENGTH4U:
            at += 5 + int.from_bytes(payload[at + 1:at + 5], "little")
        elif size == _LENGTH8U:
            at += 9 + int.from_bytes(payload[at + 1:at + 9], "little")
        elif size == _LENGTH4:
            length = int.from_bytes(payload[at + 1:at + 5], "little", signed=True)
            if length < 0:
                raise ValueError(f"a negative length at byte {at}")
            at += 5 + length
        elif size == _LINE or size == _TWO_LINES:
            at = payload.index(b"\n", at + 1) + 1  # (ValueError: no end of line)
            if size == _TWO_LINES:
                at = payload.index(b"\n", at) + 1
        elif size == _LONG_BINPUT or size == _PUT:
            if size == _PUT:
                line = payload.index(b"\n", at + 1)
                index = int(payload[at + 1:line]) if line - at < 20 else limit + end
                at = line + 1
            else:
                index = int.from_bytes(payload[at + 1:at + 5], "little")
                at += 5
            if index > count:
                raise ValueError(f"a memo index of {index} after {count} opcodes")
        elif size == _STOP:
            return count
        else:
            raise ValueError(f"no pickle opcode is {op:#x} (at byte {at})")
    return limit
