"""SqliteJobStore: the JobStore of the local stack, one SQLite file that survives restarts."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

from ocr_contract.jobs import FINISHED, JobRequest, Status

from ..model import Job
from ..steps import iso

COUNTERS = ("documents_total", "documents_done", "pages_total", "pages_done", "pages_failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    documents_total INTEGER NOT NULL DEFAULT 0,
    documents_done INTEGER NOT NULL DEFAULT 0,
    pages_total INTEGER NOT NULL DEFAULT 0,
    pages_done INTEGER NOT NULL DEFAULT 0,
    pages_failed INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    result_key TEXT,
    error TEXT,
    expires_at INTEGER NOT NULL
)
"""


class SqliteJobStore:
    """Jobs in one SQLite file. Each call is one transaction on a connection of its own, so any
    thread may call; counters are added in SQL (atomic)."""

    def __init__(self, path: Path | str):
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with closing(self._connect()) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        return db

    def create(self, job: Job) -> None:
        with self._lock, closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO jobs (job_id, owner, request, status, created_at, updated_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    job.job_id,
                    job.owner,
                    json.dumps(job.request.to_dict()),
                    job.status,
                    job.created_at,
                    job.updated_at,
                    job.expires_at,
                ),
            )

    @staticmethod
    def _job(row: sqlite3.Row) -> Job:
        return Job(
            job_id=row["job_id"],
            owner=row["owner"],
            request=JobRequest.from_dict(json.loads(row["request"])),
            status=row["status"],
            **{name: int(row[name]) for name in COUNTERS},
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            result_key=row["result_key"],
            error=json.loads(row["error"]) if row["error"] else None,
            expires_at=int(row["expires_at"]),
        )

    def get(self, job_id: str) -> Job | None:
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT * FROM jobs WHERE job_id = ? AND expires_at > ?", (job_id, int(time.time()))
            ).fetchone()
        return self._job(row) if row else None

    def set_status(
        self, job_id: str, status: Status, *, result_key: str | None = None, error: dict | None = None
    ) -> None:
        finished = tuple(sorted(FINISHED))
        with self._lock, closing(self._connect()) as db, db:
            db.execute(
                "UPDATE jobs SET status = ?, result_key = COALESCE(?, result_key), error = COALESCE(?, error),"
                f" updated_at = ? WHERE job_id = ? AND status NOT IN ({','.join('?' * len(finished))})",
                (status, result_key, json.dumps(error) if error else None, iso(time.time()), job_id, *finished),
            )

    def add(self, job_id: str, **increments: int) -> None:
        unknown = set(increments) - set(COUNTERS)
        if unknown:
            raise ValueError(f"unknown counters {sorted(unknown)}")
        names = [name for name, value in increments.items() if value]
        if not names:
            return
        with self._lock, closing(self._connect()) as db, db:
            db.execute(
                f"UPDATE jobs SET {', '.join(f'{name} = {name} + ?' for name in names)}, updated_at = ? WHERE job_id = ?",
                (*(increments[name] for name in names), iso(time.time()), job_id),
            )

    def unfinished(self) -> list[Job]:
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE status IN ('QUEUED', 'RUNNING') AND expires_at > ? ORDER BY created_at",
                (int(time.time()),),
            ).fetchall()
        return [self._job(row) for row in rows]
