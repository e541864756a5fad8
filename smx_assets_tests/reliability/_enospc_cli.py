"""The real ``smx`` command line on a disk that is full, for machines where a test cannot mount a
tiny tmpfs (not root): every Parquet write and every SQLite connection fails as a full disk
does (``OSError`` ENOSPC; SQLite limited to the pages it has, so it answers
``database or disk is full``). ``test_cli_errors`` uses a real full tmpfs when it can."""

import errno
import sqlite3
import sqlite3.dbapi2
import sys

import pyarrow.parquet as pq


def _no_space(*_args: object, **_kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


_connect = sqlite3.connect


def _full_connect(*args, **kwargs):  # type: ignore[no-untyped-def]
    conn = _connect(*args, **kwargs)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {max(pages, 1)}")  # SQLITE_FULL at the next page
    return conn


if __name__ == "__main__":
    pq.write_table = _no_space  # type: ignore[assignment]
    sqlite3.connect = sqlite3.dbapi2.connect = _full_connect  # type: ignore[assignment]  # SQLAlchemy's is dbapi2's
    from smx_assets import cli

    raise SystemExit(cli.main(sys.argv[1:]))
