"""One read-only connection per app run (ui.data.begin_run .. end_run), given back however the run ends.

Opening the benchmark's 360 MB file took 20-40 ms and a first page visit asks a dozen queries, so an app
run opens one connection on its first query and keeps it, with the in-process read lock, until the run
ends. A write (an upload, a commentary save) waits for every read, so a run that kept its connection
would make writes wait forever: these tests check it is given back at the end of the run, before this
run's own write, and when a run's thread ends without end_run.
"""

from __future__ import annotations

import gc
import threading

import kpis
from ui import data


def _write_lock_free(timeout: float = 5.0) -> bool:
    got = threading.Event()

    def writer():
        with data._lock().write():
            got.set()

    threading.Thread(target=writer, daemon=True).start()
    return got.wait(timeout)


def _in_thread(fn) -> None:
    t = threading.Thread(target=fn)
    t.start()
    t.join()


def test_a_run_shares_one_connection_and_gives_it_back(sample_db, monkeypatch):
    opened = []
    real = kpis.connect
    monkeypatch.setattr(kpis, "connect", lambda *a, **k: opened.append(a) or real(*a, **k))

    def run():
        data.begin_run()
        try:
            for _ in range(3):
                with data.read_connection(str(sample_db)) as con:
                    assert con.execute("SELECT count(*) FROM deployments").fetchone()[0] > 0
        finally:
            data.end_run()

    _in_thread(run)
    assert len(opened) == 1  # three queries, one connection
    assert _write_lock_free()

    opened.clear()  # outside a run: one connection per query, as before
    for _ in range(2):
        with data.read_connection(str(sample_db)) as con:
            con.execute("SELECT 1")
    assert len(opened) == 2 and _write_lock_free()


def test_a_run_gives_its_connection_back_before_its_own_write(sample_db):
    wrote = []

    def run():
        data.begin_run()
        try:
            with data.read_connection(str(sample_db)) as con:
                con.execute("SELECT 1")
            data.release_run_connection()  # what a write does first (ui.data._write, the Review page's saves)
            wrote.append(_write_lock_free())
            with data.read_connection(str(sample_db)) as con:  # and later reads reopen
                con.execute("SELECT 1")
        finally:
            data.end_run()

    _in_thread(run)
    assert wrote == [True] and _write_lock_free()


def test_a_run_thread_that_ends_without_end_run_gives_the_lock_back(sample_db):
    def run():
        data.begin_run()
        with data.read_connection(str(sample_db)) as con:
            con.execute("SELECT 1")
        # no end_run: the thread ends holding the connection

    _in_thread(run)
    gc.collect()
    assert _write_lock_free()
