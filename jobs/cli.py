"""Submit a folder, a file or a URL to the jobs API, follow it, and save its result.

    python -m jobs.cli submit ~/scans --out ./ocr-out             the local stack (make serve JOBS_INPUT=~/scans)
    python -m jobs.cli submit https://example.com/report.pdf
    python -m jobs.cli submit s3://my-bucket/scans/ --api https://ID.execute-api.REGION.amazonaws.com/prod --api-key KEY
    python -m jobs.cli status JOB_ID [--out DIR]

A local path is sent as a file:// URI: the local stack reads it only when it lies under the
folder the stack was started with (`make serve JOBS_INPUT=DIR`, or `python -m local
--jobs-input DIR`). The deployed API reads s3:// (its allowed buckets) and http(s) inputs.
While the job runs a progress bar shows pages done of pages counted so far; once it is
finished, --out gets result.jsonl (one JSON object per page, documents in order, then pages)
and one .txt per document (its text, page by page); with --tables the job also reads tables,
and --out gets each table as .html and .csv; --lang ko reads Korean lines too; --pdf and
--markdown ask for a searchable PDF and Markdown of each document, which --out gets at their
paths in the job (a folder's tree kept: scans/a.pdf, scans/a.pdf.md). Exit status: 0 SUCCEEDED, 3 PARTIAL, 1 FAILED,
2 when the job could not be submitted or followed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from ocr_contract.request import LANGS

EXIT = {"SUCCEEDED": 0, "PARTIAL": 3, "FAILED": 1}


class CliError(Exception):
    pass


def _request(
    method: str, url: str, api_key: str | None, body: dict | None = None, timeout: float = 60
) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(
        url, data=json.dumps(body).encode() if body is not None else None, method=method, headers=headers
    )
    if api_key:
        # To the API only: a redirect (GET /jobs/{jobId}/result to a presigned S3 URL) is followed
        # without it (urllib copies ordinary headers to the redirect's request, not these).
        request.add_unredirected_header("x-api-key", api_key)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError as exc:
        raise CliError(f"{url} could not be reached ({exc}); is the API running (make serve)?") from None


def _json(status: int, raw: bytes, what: str) -> dict:
    try:
        body = json.loads(raw)
    except ValueError:
        raise CliError(f"{what}: HTTP {status}, not JSON: {raw[:200]!r}") from None
    if status >= 400:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        raise CliError(f"{what}: HTTP {status} {error.get('code', '')}: {error.get('message', raw[:200])}")
    return body


def input_uri(source: str) -> str:
    """A URL or s3:// as it is; a local path as a file:// URI (a folder's ending in "/")."""
    if re.match(r"^(s3|https?|file)://", source, re.I):
        return source
    path = Path(source).expanduser()
    if not path.exists():
        raise CliError(f"{source} is neither a URL nor an existing file or folder")
    uri = path.resolve().as_uri()
    return uri + "/" if path.is_dir() and not uri.endswith("/") else uri


def _is_loopback(api: str) -> bool:
    return (urlsplit(api).hostname or "") in ("127.0.0.1", "localhost", "::1")


def submit(
    api: str,
    api_key: str | None,
    source: str,
    name: str | None,
    tables: bool = False,
    lang: str | None = None,
    outputs: tuple[str, ...] = (),
) -> dict:
    uri = input_uri(source)
    if uri.startswith("file:") and not _is_loopback(api):
        raise CliError(
            f"{source} is a local path: only the local stack (make serve) reads local files; "
            "for the deployed API upload them to S3 and submit s3://bucket/prefix/"
        )
    body: dict = {"input": uri}
    if name:
        body["name"] = name
    if tables:
        body["features"] = ["tables"]
    if lang:
        body["lang"] = lang
    if outputs:
        body["outputs"] = list(outputs)
    status, raw = _request("POST", f"{api}/jobs", api_key, body)
    try:
        return _json(status, raw, "POST /jobs")
    except CliError as error:
        if uri.startswith("file:") and b"UrlNotAllowed" in raw:
            folder = Path(source).expanduser().resolve()
            folder = folder if folder.is_dir() else folder.parent
            raise CliError(
                f"{error}\nThe local stack reads local files only under the folder it was started with: "
                f"restart it with `make serve JOBS_INPUT={folder}` (or `python -m local --jobs-input {folder}`)."
            ) from None
        raise


def follow(api: str, api_key: str | None, job_id: str, poll_s: float, quiet: bool) -> dict:
    from tqdm import tqdm

    bar = tqdm(total=0, unit="page", desc=job_id[:8], disable=quiet, dynamic_ncols=True)
    try:
        while True:
            state = _json(*_request("GET", f"{api}/jobs/{job_id}", api_key), f"GET /jobs/{job_id}")
            bar.total = max(state["pagesTotal"], state["pagesDone"])
            bar.n = state["pagesDone"]
            bar.set_postfix(
                status=state["status"],
                documents=f"{state['documentsDone']}/{state['documentsTotal']}",
                failed=state["pagesFailed"],
            )
            bar.refresh()
            if state["status"] in EXIT:
                return state
            time.sleep(poll_s)
    finally:
        bar.close()


def _safe_name(document: str, index: int, suffix: str = ".txt") -> str:
    base = re.sub(r"[^\w.-]+", "_", document.rstrip("/").rsplit("/", 1)[-1])[:100] or "document"
    return f"{index:04d}-{base}{suffix}"


def table_csv(table: dict) -> str:
    """A table as CSV: its grid, a spanning cell's text in its top-left slot, the slots it covers
    empty."""
    import csv
    import io

    grid = [["" for _ in range(table["columns"])] for _ in range(table["rows"])]
    for cell in table["cells"]:
        if cell["row"] < table["rows"] and cell["column"] < table["columns"]:
            grid[cell["row"]][cell["column"]] = cell["text"]
    out = io.StringIO()
    csv.writer(out).writerows(grid)
    return out.getvalue()


def _fetch(url: str | None, api_key: str | None, what: str) -> bytes | None:
    """The body at one of the job's URLs (None where the job has none), or CliError naming `what`."""
    if not url:
        return None
    status, raw = _request("GET", url, api_key, timeout=600)
    if status != 200:
        raise CliError(f"{what} could not be fetched: HTTP {status} {raw[:200]!r}")
    return raw


def save(state: dict, api_key: str | None, out: Path) -> list[Path]:
    """result.jsonl and one .txt per document under `out`. The result is fetched from the API's
    resultUrl (GET /jobs/{jobId}/result, with the API key), which redirects to the result at a
    URL signed for a few minutes (S3's, in AWS), followed without the key."""
    raw = _fetch(state.get("resultUrl"), api_key, "the result")
    if raw is None:
        return []
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "result.jsonl"]
    written[0].write_bytes(raw)
    texts: dict[str, list[str]] = {}
    tables: list[tuple[str, int, int, dict]] = []  # (document, page, n, table)
    for line in raw.decode("utf-8").splitlines():
        if not line.strip():
            continue
        page = json.loads(line)
        for n, table in enumerate(page.get("tables") or [], 1):
            tables.append((page["document"], page["page"], n, table))
        parts = texts.setdefault(page["document"], [])
        if page.get("error"):
            parts.append(f"[page {page['page']}: {page['error']['code']}: {page['error']['message']}]")
        else:
            parts.append("\n".join(item["words"] for item in page["lines"]))
    order = {document: index for index, document in enumerate(texts)}
    for index, (document, pages) in enumerate(texts.items()):
        path = out / _safe_name(document, index)
        path.write_text("\n\n".join(pages) + "\n", encoding="utf-8")
        written.append(path)
    for document, page_number, n, table in tables:
        stem = _safe_name(document, order[document], f"-p{page_number}-t{n}")
        (out / f"{stem}.html").write_text(table["html"] + "\n", encoding="utf-8")
        (out / f"{stem}.csv").write_text(table_csv(table), encoding="utf-8")
        written += [out / f"{stem}.html", out / f"{stem}.csv"]
    return written + save_outputs(state, api_key, out)


def local_path(out: Path, file: str) -> Path | None:
    """Where an output file named by the job (`scans/a.pdf`) goes under `out`: the same relative
    path, or None for a name that would leave it (absolute, `..`)."""
    parts = [p for p in file.replace("\\", "/").split("/") if p]
    if not parts or any(p in (".", "..") for p in parts) or file.startswith("/"):
        return None
    return out.joinpath(*parts)


def save_outputs(state: dict, api_key: str | None, out: Path) -> list[Path]:
    """The job's outputs (--pdf, --markdown) under `out`, each at its path in the job's outputs/
    (beside result.jsonl): their list from outputsUrl, each file from its URL (a redirect to
    S3 in AWS, followed without the key). A document whose output could not be written is
    reported, not fatal."""
    url = state.get("outputsUrl")
    raw = _fetch(url, api_key, "the list of outputs")
    if url is None or raw is None:
        return []
    written = []
    for line in raw.decode("utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        if entry.get("error"):
            error = entry["error"]
            print(f"no {entry['format']} of {entry['document']}: {error['code']}: {error['message']}", file=sys.stderr)
            continue
        target = local_path(out, entry["file"])
        if target is None:
            print(f"skipped an output named {entry['file']!r}", file=sys.stderr)
            continue
        from urllib.parse import quote

        link = f"{url.split('?', 1)[0]}?output={quote('outputs/' + entry['file'])}"
        status, body = _request("GET", link, api_key, timeout=600)
        if status != 200:
            raise CliError(f"{entry['file']} could not be fetched: HTTP {status} {body[:200]!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        written.append(target)
    return written


def _report(state: dict, out: Path | None, api_key: str | None) -> int:
    print(
        f"{state['jobId']}: {state['status']}, {state['pagesDone']} of {state['pagesTotal']} pages "
        f"({state['pagesFailed']} failed) in {state['documentsTotal']} document(s)"
    )
    if state.get("error"):
        print(f"error: {state['error']['code']}: {state['error']['message']}", file=sys.stderr)
    if out is not None and state["status"] in EXIT:
        written = save(state, api_key, out)
        if written:
            print(f"wrote {written[0]} and {len(written) - 1} more file(s) to {out}")
    elif state.get("resultUrl"):
        print(f"result: {state['resultUrl']}")
    return EXIT.get(state["status"], 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.cli",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api",
        default=os.environ.get("OCR_API", "http://127.0.0.1:8080"),
        help="the API's base URL (default $OCR_API or http://127.0.0.1:8080, the local stack)",
    )
    common.add_argument("--api-key", default=os.environ.get("OCR_API_KEY"), help="the API key (default $OCR_API_KEY)")
    common.add_argument("--out", type=Path, help="save result.jsonl and a .txt per document in this folder")
    common.add_argument("--poll", type=float, default=2.0, help="seconds between status checks (default 2)")
    common.add_argument("--quiet", action="store_true", help="no progress bar")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "submit", parents=[common], help="submit a folder, file, s3:// prefix or URL and follow it to the end"
    )
    run.add_argument(
        "source", metavar="PATH_OR_URL", help="a local folder or file, s3://bucket/key-or-prefix/, or http(s) URL"
    )
    run.add_argument("--name", help="a name for the job")
    run.add_argument("--tables", action="store_true", help="read tables too: --out gets each as .html and .csv")
    run.add_argument("--lang", choices=LANGS, help="read this language too (ko: Korean lines)")
    run.add_argument(
        "--pdf", action="store_true", help="a searchable PDF of each document: --out gets it at its own path"
    )
    run.add_argument(
        "--markdown", action="store_true", help="Markdown of each document (reading order, headings, tables)"
    )
    run.add_argument("--no-wait", action="store_true", help="print the job id and return at once")
    status = commands.add_parser("status", parents=[common], help="follow a job submitted before")
    status.add_argument("job_id", metavar="JOB_ID")
    args = parser.parse_args(argv)
    api = args.api.rstrip("/")
    try:
        if args.command == "submit":
            outputs = tuple(name for name, asked in (("pdf", args.pdf), ("markdown", args.markdown)) if asked)
            job = submit(api, args.api_key, args.source, args.name, args.tables, args.lang, outputs)
            print(f"job {job['jobId']} {job['status']}: {job['statusUrl']}", flush=True)
            if args.no_wait:
                return 0
            job_id = job["jobId"]
        else:
            job_id = args.job_id
        state = follow(api, args.api_key, job_id, args.poll, args.quiet)
        return _report(state, args.out, args.api_key)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nstopped following; the job goes on (python -m jobs.cli status JOB_ID)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
