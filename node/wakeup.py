"""Wake-ups between the processes of one SQLite node: a Unix datagram socket per listener, beside the database.

PostgreSQL has LISTEN/NOTIFY; SQLite has nothing of the kind, so a listener would only poll. Here a
listener names itself by a file in the wake folder (`<database>.wake/<channel>.<pid>.<random>`) and
binds a datagram socket of that name (on Linux in the abstract namespace, so a long data folder does
not matter; elsewhere the file is the socket itself, where its path is short enough), and a process
that committed a notifying transaction sends one byte to every listener of that channel, except the
listeners of its own Database object: those learn of its commits from its commit hooks, sooner. A byte only
says "look again": listeners still read the database, and still poll at their own pace, so a lost byte
(a full buffer, processes in different network namespaces) costs time, never an event. The name of a
listener whose process died without removing it is removed by the next sender.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import select
import socket
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

# A Unix socket path is at most 103 bytes on macOS: there longer folders fall back to polling.
MAX_PATH = 100
ABSTRACT = sys.platform == "linux"


class Wakeups:
    """The wake folder of one database file; `listen` waits for a channel, `send` wakes its listeners."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._abstract_prefix = "\0sifnet-wake-" + hashlib.sha256(os.fsencode(folder)).hexdigest()[:16] + "/"
        self._own: set[str] = set()  # the names of the listeners opened through this object

    def address(self, name: str) -> str:
        """The socket address of the listener named `name` in this folder."""
        return self._abstract_prefix + name if ABSTRACT else os.fsdecode(self.folder / name)

    @classmethod
    def beside(cls, database_file: str | None) -> Wakeups | None:
        """The wake folder of a database file; None for an in-memory database or where sockets are missing."""
        if not database_file or database_file == ":memory:" or not hasattr(socket, "AF_UNIX"):
            return None
        return cls(Path(database_file).resolve().parent / (Path(database_file).name + ".wake"))

    @contextmanager
    def listen(self, channel: str) -> Iterator[socket.socket | None]:
        """A bound socket that receives the channel's wake-ups while the block runs (None: could not bind)."""
        name = f"{channel}.{os.getpid()}.{secrets.token_hex(4)}"
        path, address = self.folder / name, self.address(name)
        if len(os.fsencode(address)) > MAX_PATH:
            yield None
            return
        self.folder.mkdir(mode=0o700, exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(address)
            sock.setblocking(False)
            if ABSTRACT:
                path.touch(mode=0o600)  # how senders find it
            self._own.add(name)
            yield sock
        finally:
            self._own.discard(name)
            sock.close()
            path.unlink(missing_ok=True)

    def send(self, channels: Iterable[str]) -> int:
        """Wake every listener of these channels but this object's own; how many were reached."""
        prefixes = tuple(f"{channel}." for channel in channels)
        if not prefixes:
            return 0
        try:
            names = [e.name for e in os.scandir(self.folder) if e.name.startswith(prefixes) and e.name not in self._own]
        except OSError:  # nobody has listened yet (no folder), or it is not ours to read: listeners poll
            return 0
        reached = 0
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            for name in names:
                try:
                    sock.sendto(b"!", self.address(name))
                    reached += 1
                except BlockingIOError:  # its buffer is full of wake-ups it has not read: it will look anyway
                    reached += 1
                except (ConnectionRefusedError, FileNotFoundError):  # its process is gone
                    (self.folder / name).unlink(missing_ok=True)
                except OSError:  # not ours to wake (another user's file): it polls
                    pass
        return reached


def wait(sock: socket.socket, seconds: float) -> bool:
    """Block until a wake-up arrives or the seconds are over; whether one came (every waiting one is read)."""
    ready, _w, _x = select.select([sock], [], [], max(0.0, seconds))
    if not ready:
        return False
    while True:
        try:
            sock.recv(64)
        except BlockingIOError:
            return True
