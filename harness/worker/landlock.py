"""Landlock: an unprivileged process fences itself in (Linux >= 5.13), no namespaces needed.

After ``restrict`` this process and everything it starts can read only the listed hierarchies,
write only the writable ones, connect or bind no TCP port (ABI >= 4), and signal or reach by an
abstract Unix socket no process outside its own domain (ABI >= 6); ptrace of a process outside
the domain is refused at every ABI.  UDP and connecting to an existing Unix socket file are not
covered by Landlock.  Stdlib only (ctypes): it runs in the worker before the submission loads.
"""
import ctypes
import os
import struct

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same on every architecture
_VERSION = 1  # landlock_create_ruleset flag: return the ABI version
_PATH_BENEATH, _NET_PORT = 1, 2
PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # rights a file rule may hold
READ = EXECUTE | READ_FILE | READ_DIR
BIND_TCP, CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class Unavailable(OSError):
    """Landlock cannot be used here (old kernel, disabled, or refused by a seccomp filter)."""


def abi():
    """The kernel's Landlock ABI version, 0 when there is none."""
    version = _libc.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_VERSION))
    return max(int(version), 0)


def handled_fs(version):
    """Every filesystem right this ABI knows: all of them are denied unless a rule grants it."""
    rights = (1 << 13) - 1
    if version >= 2:
        rights |= REFER
    if version >= 3:
        rights |= TRUNCATE
    if version >= 5:
        rights |= IOCTL_DEV
    return rights


def restrict(read=(), write=()):
    """Fence this process in: ``read`` paths readable (and executable), ``write`` paths fully
    usable, every other path unreachable, and at the ABI's level no TCP and no signal out.

    Paths that do not exist are skipped.  Returns what is enforced, for the report: a list of
    protection names.  Raises ``Unavailable`` when nothing can be enforced."""
    version = abi()
    if version < 1:
        raise Unavailable('Landlock is not available on this kernel')
    fs = handled_fs(version)
    net = BIND_TCP | CONNECT_TCP if version >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if version >= 6 else 0
    attr = struct.pack('QQQ', fs, net, scoped)[:8 if version < 4 else 16 if version < 6 else 24]
    ruleset = _check(_libc.syscall(_CREATE_RULESET, attr, ctypes.c_size_t(len(attr)),
                                   ctypes.c_uint32(0)), 'create a ruleset')
    try:
        for paths, rights in ((read, READ), (write, fs)):
            for path in paths:
                _add_path(ruleset, path, rights & fs)
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 'set no_new_privs')
        _check(_libc.syscall(_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)), 'restrict itself')
    finally:
        os.close(ruleset)
    enforced = ['filesystem']
    if net:
        enforced.append('tcp')
    if scoped:
        enforced += ['signals', 'abstract-unix-sockets']
    return enforced


def _add_path(ruleset, path, rights):
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= FILE_ONLY
        rule = struct.pack('=Qi', rights, fd)
        _check(_libc.syscall(_ADD_RULE, ruleset, _PATH_BENEATH, rule, ctypes.c_uint32(0)),
               f'add a rule for {path}')
    finally:
        os.close(fd)


def _check(result, what):
    if result < 0:
        errno = ctypes.get_errno()
        raise Unavailable(errno, f'Landlock could not {what}: {os.strerror(errno)}')
    return result
