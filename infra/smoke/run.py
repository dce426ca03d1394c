"""The whole run: the checks, the table, the exit status (main)."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from ocr_contract.routes import (
    JOB,
    JOBS,
)

from .checks import SYNC_ROUTES, Row, check_route
from .client import Client
from .common import DEFAULT_STACK, JOB_RESULT, JOB_TIMEOUT_S, SmokeError
from .job import AWS_LEFT_BEHIND, JobInput, folder_job_input, run_job, upload_job_input
from .stack import Target, api_region, discover, sigv4_signer

# -- the whole run --------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    head = ("check", "result", "HTTP", "time", "detail")
    cells = [
        (
            r.check,
            r.result,
            "-" if r.status is None else str(r.status),
            "-" if r.seconds is None else f"{r.seconds:.2f}s",
            r.detail,
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [head, *cells]) for i in range(4)]
    lines = [
        "  ".join(value.ljust(widths[i]) if i < 4 else value for i, value in enumerate(row)) for row in [head, *cells]
    ]
    return "\n".join(lines)


def smoke(
    target: Target, make_job_input: Callable[[], JobInput] | None, job_skip: str, job_timeout_s: float, say=print
) -> tuple[list[Row], list[str]]:
    """Every route once, then the job (or its rows skipped, saying why): the rows, and notes on
    what was cleaned up and what stays."""
    client = Client(target)
    rows = [check_route(client, route) for route in SYNC_ROUTES]
    job_checks = (f"POST {JOBS}", f"GET {JOB}", f"GET {JOB_RESULT}")
    if make_job_input is None:
        return rows + [Row(check, "SKIP", detail=job_skip) for check in job_checks], []
    try:
        job_input = make_job_input()
    except SmokeError as exc:
        rows.append(Row(job_checks[0], "FAIL", detail="not run: the job's document could not be made", advice=str(exc)))
        return rows + [Row(check, "FAIL", detail="not run: the job was not submitted") for check in job_checks[1:]], []
    notes = []
    try:
        rows += run_job(client, job_input, job_timeout_s, say)
    finally:
        notes.append(job_input.cleanup())
    if rows[len(SYNC_ROUTES)].status == 202:
        notes.append(job_input.left_behind)
    return rows, [note for note in notes if note]


def _session(profile: str | None):
    from ..doctor import Doctor, preflight_session

    session, problem = preflight_session(profile)
    doctor = Doctor(None, session)  # type: ignore[arg-type]  # credentials() reads no settings
    if problem or not doctor.credentials():
        raise SmokeError(
            (problem or doctor.findings[-1]).line().split("  ", 1)[-1]
            + ". `make smoke` reads the stack's outputs with your AWS credentials; to test a running API without "
            'them: make smoke SMOKE_ARGS="--url BASE_URL [--api-key KEY]"'
        )
    return session


def prepare(args) -> tuple[Target, Callable[[], JobInput] | None, str]:
    """The target, what makes the job's input when the job is run (None: no job), and why there
    is no job."""
    from ..doctor import context_from
    from ..settings import SettingsError

    session = None
    if args.url:
        base = args.url.rstrip("/")
        if not re.match(r"https?://[^/]+", base):
            raise SmokeError(
                f"--url {args.url!r}: give the API's base URL, e.g. http://127.0.0.1:8080 or https://ID.execute-api.REGION.amazonaws.com/prod"
            )
        sign = None
        if args.sigv4:
            session = _session(args.profile)
            sign = sigv4_signer(session, api_region(base, session.region_name))
        auth = "SigV4" if sign else ("API key given" if args.api_key else "no key")
        target = Target(base, args.api_key, sign, described=f"{base} ({auth})")
    else:
        try:
            stack_name = context_from(args.context).get("stackName") or DEFAULT_STACK
        except SettingsError as exc:
            raise SmokeError(str(exc)) from None
        session = _session(args.profile)
        target = discover(session, stack_name)
        if args.api_key:
            target.api_key, target.sign = args.api_key, None
    if args.no_jobs:
        return target, None, "left out (--no-jobs)"
    if not target.jobs:
        return target, None, "not deployed (jobs=false)"
    if args.job_input:
        left = AWS_LEFT_BEHIND if not args.url else ""
        return target, lambda: JobInput(args.job_input, False, left_behind=left), ""
    if args.jobs_input:
        folder = Path(args.jobs_input).expanduser().resolve()
        if not folder.is_dir():
            raise SmokeError(
                f"--jobs-input {folder} is not a folder: give the folder the stack was started with "
                f"(make serve JOBS_INPUT={folder})"
            )
        return target, lambda: folder_job_input(folder), ""
    bucket = target.results_bucket
    if bucket and session is not None and not args.url:
        return target, lambda: upload_job_input(session, bucket), ""
    raise SmokeError(
        "the job needs a document the API can read: against `make serve`, start it with JOBS_INPUT=DIR and pass "
        "--jobs-input DIR; elsewhere --job-input s3://allowed-bucket/doc.pdf or an https URL; or --no-jobs to leave the jobs API out"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-c", "--context", action="append", default=[], metavar="KEY=VALUE", help="as cdk: stackName=NAME"
    )
    parser.add_argument("--profile", help="the AWS profile, as cdk's --profile (default: AWS_PROFILE, or default)")
    parser.add_argument("--url", help="test the API at this base URL instead of the stack's (no CloudFormation)")
    parser.add_argument("--api-key", help="the key to send in each route's secret header (default: the stack's)")
    parser.add_argument("--sigv4", action="store_true", help="with --url: sign requests with SigV4 (an auth=iam API)")
    parser.add_argument(
        "--jobs-input", metavar="DIR", help="the local stack's JOBS_INPUT folder: the job's PDF is written there"
    )
    parser.add_argument(
        "--job-input", metavar="URI", help="a document of yours for the job instead (s3://... or https://...)"
    )
    parser.add_argument("--no-jobs", action="store_true", help="leave the jobs API out")
    parser.add_argument("--job-timeout", type=float, default=JOB_TIMEOUT_S, metavar="SECONDS")
    args, _ = parser.parse_known_args(argv)  # make passes CDK_ARGS, which may hold other cdk flags
    try:
        target, make_job_input, job_skip = prepare(args)
    except SmokeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"smoke test of {target.described}", flush=True)
    rows, notes = smoke(
        target, make_job_input, job_skip, args.job_timeout, say=lambda line: print(line, file=sys.stderr, flush=True)
    )
    print()
    print(table(rows))
    if notes:
        print("\n" + "\n".join(notes))
    failed = [row for row in rows if row.result == "FAIL"]
    if failed:
        print(f"\n{len(failed)} of {len(rows)} check(s) failed. What to do:", file=sys.stderr)
        for row in failed:
            if row.advice:
                print(f"- {row.check}: {row.advice}", file=sys.stderr)
        return 1
    skipped = [row for row in rows if row.result == "SKIP"]
    print(f"\nAll {len(rows) - len(skipped)} check(s) passed" + (f"; {len(skipped)} skipped." if skipped else "."))
    return 0
