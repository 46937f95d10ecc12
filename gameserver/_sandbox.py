"""How a worker process confines itself before it loads a game (Linux: Landlock, limits).

``confine`` runs in the worker, before any game code: after it, the game's
module code, constructor and methods run with

* a memory limit (``RLIMIT_AS``) and a CPU-time limit (``RLIMIT_CPU``: a
  soft limit that asks the worker to retire, a hard one 5 s later that
  kills it), no core dumps, a lower scheduling priority than the server
  (``nice`` 5), and death with the server (``PR_SET_PDEATHSIG``);
* where the kernel has Landlock (Linux 5.13+; no root needed), a ruleset
  that lets it read only the game's folder, Python's own files and the
  system's shared libraries, and write nowhere; with Landlock ABI 4
  (Linux 6.7) no TCP connection or listening socket; with ABI 6 (Linux
  6.12) no signal to a process outside the sandbox (the server) and no
  abstract Unix socket outside it. A sandboxed process also cannot ptrace
  (read the memory of) the server;
* on Linux (seccomp), no way out of the worker's process group
  (``setsid``, ``setpgid`` fail with EPERM), so that killing the group
  kills every process a game started, however it tried to outlive it.

What could not be applied is returned as a list of plain-English problems;
the server logs them at start-up, so nothing is silently unsafe. The
Landlock calls are three system calls made through ctypes; their numbers
(444-446) are the same on every Linux architecture.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path

# Landlock (include/uapi/linux/landlock.h)
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1, 2, 4, 8
_FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1, 2
_PR_SET_PDEATHSIG, _PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP = 1, 38, 22

# seccomp (include/uapi/linux/seccomp.h, filter.h, audit.h): per architecture the
# system calls that leave a process group, setsid and setpgid, and a mask for the
# number (x86-64's x32 calls have bit 30 set). i386 and arm: 32-bit programs on a
# 64-bit kernel.
_SECCOMP_MODE_FILTER = 2
_RET_ALLOW, _RET_EPERM = 0x7FFF0000, 0x00050000 | 1
_LD_W_ABS, _JEQ_K, _AND_K, _RET_K = 0x20, 0x15, 0x54, 0x06
_GROUP_CALLS = {  # AUDIT_ARCH_*: (number mask, setsid, setpgid)
    0xC000003E: (0xBFFFFFFF, 112, 109),  # x86-64 (and x32)
    0x40000003: (0xFFFFFFFF, 66, 57),  # i386
    0xC00000B7: (0xFFFFFFFF, 157, 154),  # aarch64
    0x40000028: (0xFFFFFFFF, 66, 57),  # arm
}

NICENESS = 5
CPU_GRACE = 5  # seconds between the CPU limit's warning signal and the kill


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    libc.syscall.restype = ctypes.c_long
    return libc


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers (0: none)."""
    libc = _libc()
    if libc is None:
        return 0
    abi = libc.syscall(ctypes.c_long(_SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
                       ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(0, abi)


def confine(memory_mb: int, cpu_seconds: int, readable: Iterable[str], parent: int,
            ) -> tuple[int, list[str]]:
    """Confine this process (see the module docstring); call before loading game code.

    Args:
        memory_mb: the address-space limit in MiB.
        cpu_seconds: CPU seconds before the worker is asked to retire.
        readable: folders and files the game may read, besides Python's own.
        parent: the server's process id (the worker dies with it).

    Returns:
        The Landlock ABI applied (0: none) and what could not be applied.
    """
    problems = _limit(memory_mb, cpu_seconds, parent)
    problem = _keep_group()
    if problem:
        problems.append(problem)
    abi = landlock_abi()
    if abi == 0:
        problems.append("Landlock is not available (it needs Linux 5.13 or later with "
                        "Landlock enabled)")
        return 0, problems
    problem = _landlock(abi, [*readable, *python_paths()])
    if problem:
        problems.append(problem)
        return 0, problems
    if abi < 4:
        problems.append(f"Landlock ABI {abi} cannot deny TCP connections (needs Linux 6.7)")
    if abi < 6:
        problems.append(f"Landlock ABI {abi} cannot stop signals to the server, such as "
                        "os.kill (needs Linux 6.12)")
    return abi, problems


def _limit(memory_mb: int, cpu_seconds: int, parent: int) -> list[str]:
    problems = []
    try:
        import resource
    except ImportError:  # Windows
        return ["no resource limits on this system (no memory or CPU limit per worker)"]
    limits = [(resource.RLIMIT_AS, memory_mb * 1024 * 1024, "memory"),
              (resource.RLIMIT_CPU, cpu_seconds, "CPU time"),
              (resource.RLIMIT_CORE, 0, "core dumps")]
    for which, soft, what in limits:
        hard = soft + CPU_GRACE if which == resource.RLIMIT_CPU else soft
        try:
            resource.setrlimit(which, (soft, hard))
        except (OSError, ValueError) as err:
            problems.append(f"the {what} limit could not be set ({err})")
    try:
        os.nice(NICENESS)
    except OSError as err:
        problems.append(f"the worker's priority could not be lowered ({err})")
    libc = _libc()
    if libc is not None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the server died before we asked to die with it
            os._exit(1)
    return problems


def _keep_group() -> str:
    """Make ``setsid`` and ``setpgid`` fail (EPERM) in this process and all it starts; ""
    on success, else the problem.

    The server kills a worker's process group (``_process.Process.kill``): a child
    that made a group of its own outlived it, as long as it liked.
    """
    libc = _libc()
    if libc is None:
        return ""  # not Linux: no seccomp (and no worker processes on Windows)
    program = []
    for arch, (mask, *calls) in _GROUP_CALLS.items():
        block = [(_LD_W_ABS, 0, 0, 0), (_AND_K, 0, 0, mask)]  # the call's number
        block += [(_JEQ_K, len(calls) - i, 0, call) for i, call in enumerate(calls)]
        block += [(_RET_K, 0, 0, _RET_ALLOW), (_RET_K, 0, 0, _RET_EPERM)]
        program += [(_LD_W_ABS, 0, 0, 4), (_JEQ_K, 0, len(block), arch), *block]
    program.append((_RET_K, 0, 0, _RET_ALLOW))  # another architecture: nothing to stop
    filters = (_SockFilter * len(program))(*(_SockFilter(*op) for op in program))
    fprog = _SockFprog(len(program), filters)
    if (libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            or libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0)
            != 0):
        return ("a game's child processes can leave its worker's process group and "
                f"outlive the worker (seccomp failed: {os.strerror(ctypes.get_errno())})")
    return ""


def python_paths() -> list[str]:
    """What Python needs to import modules and load libraries, readable in the sandbox.

    Only the installation's own folders, never the folder the server runs
    in (which may hold the store): a checkout run without installing is
    reached through the package folder alone.
    """
    paths = {str(Path(__file__).resolve().parent)}  # gameserver itself
    info = sysconfig.get_paths()
    paths.update(info[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")
                 if name in info)
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    for entry in sys.path:
        real = os.path.realpath(entry) if entry else ""
        if real and (any(real.startswith(prefix + os.sep) for prefix in prefixes)
                     or real.endswith(("site-packages", "dist-packages"))):
            paths.add(real)
    paths.update(("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib",
                  "/etc/ld.so.cache", "/etc/localtime", "/usr/share/zoneinfo",
                  "/dev/null", "/dev/urandom"))
    return sorted(paths)


def _landlock(abi: int, readable: list[str]) -> str:
    """Apply the ruleset; "" on success, else the problem."""
    libc = _libc()
    assert libc is not None
    fs_rights = _FS_RIGHTS_BY_ABI[max(a for a in _FS_RIGHTS_BY_ABI if a <= abi)]
    attr = _RulesetAttr(fs_rights, _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0,
                        _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if abi >= 6 else 0)
    ruleset = libc.syscall(ctypes.c_long(_SYS_CREATE_RULESET), ctypes.byref(attr),
                           ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"Landlock: creating a ruleset failed ({os.strerror(ctypes.get_errno())})"
    try:
        for path in readable:
            problem = _allow(libc, ruleset, path)
            if problem:
                return problem
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return f"Landlock: no_new_privs failed ({os.strerror(ctypes.get_errno())})"
        if libc.syscall(ctypes.c_long(_SYS_RESTRICT_SELF), ctypes.c_int(ruleset),
                        ctypes.c_uint32(0)) != 0:
            return f"Landlock: restricting failed ({os.strerror(ctypes.get_errno())})"
    finally:
        os.close(ruleset)
    return ""


def _allow(libc: ctypes.CDLL, ruleset: int, path: str) -> str:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return ""  # not on this system: nothing to allow
    try:
        is_dir = os.path.isdir(path)
        rights = _FS_READ_FILE | _FS_EXECUTE | (_FS_READ_DIR if is_dir else 0)
        if path == "/dev/null":
            rights |= _FS_WRITE_FILE
        rule = _PathBeneathAttr(rights, fd)
        if libc.syscall(ctypes.c_long(_SYS_ADD_RULE), ctypes.c_int(ruleset),
                        ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule),
                        ctypes.c_uint32(0)) != 0:
            return f"Landlock: allowing {path} failed ({os.strerror(ctypes.get_errno())})"
    finally:
        os.close(fd)
    return ""
