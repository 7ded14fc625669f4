"""SQLite's stand-in for NOTIFY: a committed transaction wakes the listeners of its channel, in any process."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import text

from node import wakeup
from node.db import Database, notify_on_commit
from node.wakeup import Wakeups

CHANNEL = "sifnet_member_events"


@pytest.fixture
def databases(tmp_path):
    """Two Database objects on one file, as two processes of a node hold them."""
    url = f"sqlite:///{tmp_path / 'node.db'}"
    first, second = Database(url), Database(url)
    with first.write() as s:
        s.execute(text("create table t (x integer)"))
    yield first, second
    first.dispose()
    second.dispose()


def _insert(db: Database, *, notify: bool = True) -> None:
    with db.write() as s:
        s.execute(text("insert into t values (1)"))
        if notify:
            notify_on_commit(s, CHANNEL)


def test_a_commit_wakes_the_listener_of_another_database_object(databases):
    listener, writer = databases
    with listener.listening(CHANNEL) as wait:
        assert not wait(0)
        _insert(writer)
        assert wait(10)
        assert not wait(0)  # every wake-up waiting was read at once


def test_a_rollback_or_a_transaction_that_notifies_nothing_wakes_nobody(databases):
    listener, writer = databases
    with listener.listening(CHANNEL) as wait:
        with pytest.raises(RuntimeError), writer.write() as s:
            s.execute(text("insert into t values (1)"))
            notify_on_commit(s, CHANNEL)
            raise RuntimeError("rolled back")
        _insert(writer, notify=False)
        assert not wait(0.05)


def test_the_socket_of_a_listener_that_died_is_removed_by_the_next_sender(databases):
    listener, writer = databases
    folder = listener.wakeups.folder
    folder.mkdir(mode=0o700, exist_ok=True)
    dead = folder / f"{CHANNEL}.999999.deadbeef"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(listener.wakeups.address(dead.name))
        dead.touch()
    assert dead.exists()  # as kill -9 leaves it: the name stays, nobody reads its socket
    with listener.listening(CHANNEL) as wait:
        assert writer.wakeups.send([CHANNEL]) == 1
        assert wait(10)
    assert not dead.exists()
    assert list(folder.iterdir()) == []  # the listener removed its own socket when it stopped


def test_a_socket_address_too_long_falls_back_to_polling(tmp_path, monkeypatch):
    monkeypatch.setattr(wakeup, "ABSTRACT", False)  # as on macOS: the socket is the file, its path is limited
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    db = Database(f"sqlite:///{deep / 'node.db'}")
    with db.listening(CHANNEL) as wait:
        assert wait(0.01) is False  # a sleep: the caller polls as it did before
    db.dispose()


@pytest.mark.skipif(not wakeup.ABSTRACT, reason="Linux's abstract socket namespace")
def test_a_long_data_folder_still_wakes_on_linux(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    url = f"sqlite:///{deep / 'node.db'}"
    listener, writer = Database(url), Database(url)
    with writer.write() as s:
        s.execute(text("create table t (x integer)"))
    with listener.listening(CHANNEL) as wait:
        _insert(writer)
        assert wait(10)
    for db in (listener, writer):
        db.dispose()


def test_an_in_memory_database_has_no_wake_folder():
    assert Wakeups.beside(":memory:") is None
    assert Wakeups.beside(None) is None


def test_a_commit_does_not_wake_the_listeners_of_its_own_database_object(databases):
    """The object's commit hooks tell its process of its own commits; a wake-up would only repeat them."""
    listener, writer = databases
    hooked = []
    listener.commit_hooks.append(lambda session: hooked.append(True))
    with listener.listening(CHANNEL) as wait:
        _insert(listener)
        assert hooked == [True]
        assert not wait(0.05)
        _insert(writer)  # another object (another process) still wakes it
        assert wait(10)
