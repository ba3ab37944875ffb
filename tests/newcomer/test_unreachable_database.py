"""`DATABASE_URL` that names no reachable database is a sentence to act on, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import ROOT, free_port


def _sb(cwd: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SWITCHBOARD_DATA_DIR",)}
    env.update(
        DATABASE_URL=database_url,
        PYTHONPATH=str(ROOT),
        COLUMNS="120",
        SWITCHBOARD_SECRET_KEY="review-secret-key-0123456789",
    )
    return subprocess.run(
        [sys.executable, "-m", "app", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("command", [["approvals", "list"], ["db", "upgrade"], ["runs", "list"]])
def test_a_postgresql_server_that_does_not_answer_is_named_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    """CONTRACT: `DATABASE_URL` selects the database; "every error must name the problem". With a
    PostgreSQL server that is down (or a mistyped port), `switchboard approvals list` / `db upgrade`
    exit 2 with one line naming the server it could not reach, as they already do for a database
    that does not exist (`createdb NAME`) or has no tables (`db upgrade`), and print no Python
    traceback of sqlalchemy/psycopg internals."""
    port = free_port()  # nothing listens here
    done = _sb(tmp_path, f"postgresql://postgres@127.0.0.1:{port}/test", *command)
    said = done.stdout + done.stderr
    assert "Traceback" not in said and "site-packages" not in said, said[-3000:]
    assert done.returncode == 2, said[-2000:]
    assert f"127.0.0.1:{port}" in said or str(port) in said, said


@pytest.mark.parametrize("url", ["postgresql//postgres@127.0.0.1/test", "mysql://root@127.0.0.1/sb"])
def test_a_database_url_that_cannot_be_used_names_database_url(tmp_path: Path, url: str) -> None:
    """A DATABASE_URL that is not a URL (a missing ':'), or names a database Switchboard does not
    support, is refused naming DATABASE_URL and what is accepted (sqlite:///FILE,
    postgresql://...), not with an sqlalchemy ArgumentError or a MySQLdb ModuleNotFoundError
    traceback."""
    done = _sb(tmp_path, url, "approvals", "list")
    said = done.stdout + done.stderr
    assert "Traceback" not in said, said[-3000:]
    assert done.returncode == 2, said[-2000:]
    assert "DATABASE_URL" in said, said


def test_a_sign_in_the_server_refuses_says_to_check_the_user_and_password(
    tmp_path: Path, postgres_db: Any
) -> None:
    """A role the PostgreSQL server does not know is a refused sign-in, not a server that is
    down: the line says to check the user and password in DATABASE_URL."""
    url = postgres_db.engine.url
    done = _sb(
        tmp_path,
        f"postgresql://no_such_role_sb@{url.host}:{url.port or 5432}/{url.database}",
        "approvals",
        "list",
    )
    said = done.stdout + done.stderr
    assert done.returncode == 2, said[-2000:]
    assert "user and password" in said and "Traceback" not in said, said[-2000:]
