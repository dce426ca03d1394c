"""`make bench-tables`: table recognition, scored by TEDS (PubTabNet's tree-edit-distance
similarity, full and structure-only), on PubTabNet's 20 example tables, on Chinese tables
generated now (bench/table_images.py: plain renders and photo-like variants), and on three
pages of a ruled 40-row bank statement drawn now (bench/table_pages.py: the time a table-heavy
page takes).

Systems:
* `ours (clova)`: our engine (OCR + tables.py), its tables shaped by the CLOVA door
  (frontend/doors/clova.py `_tables`, V2) and scored from that shape (rowIndex, columnIndex,
  spans and cellWords' inferText), the way a CLOVA client sees them.
* `rapid-table`: rapid-table 0.3.0's own pipeline (SLANet-plus and its matcher) on the whole
  image, given our OCR lines (it has no OCR of its own here).

Both sides are normalised alike before scoring (the PubTabNet set's SOURCE.md): th -> td,
thead/tbody dropped, b/i/sup/sub unwrapped, NFKC, whitespace collapsed.

And the real Chinese tables of `../shared/eval/tables_zh_ctdar` (bench/ctdar.py: 103 pages, 169
tables, cell boxes and adjacency, no text), each half apart: ours on the whole pages (table
finding by outline IoU, cells, TEDS-struct) and on each table cut out of its page (a crop), and
rapid-table's pipeline on the same crops (it finds no tables on a page), given the same OCR
lines as ours.

    python -m bench.tables [--data ../shared/eval/tables_pubtabnet] [--count 12] [--limit N]
        [--sets pubtabnet,zh,statement,ctdar] [--ctdar ../shared/eval/tables_zh_ctdar] [--half both]
"""

from __future__ import annotations

import argparse
import datetime
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from . import ctdar, table_images, table_pages
from .teds import teds

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "tables_pubtabnet"


def clova_html(clova_tables: list[dict]) -> str:
    """HTML from CLOVA-shaped tables (the first table; a page with none is an empty table)."""
    if not clova_tables:
        return "<table></table>"
    rows: dict[int, list[dict]] = {}
    for cell in clova_tables[0]["cells"]:
        rows.setdefault(cell["rowIndex"], []).append(cell)
    out = ["<table>"]
    for r in sorted(rows):
        out.append("<tr>")
        for cell in sorted(rows[r], key=lambda c: c["columnIndex"]):
            text = ""
            for line in cell["cellTextLines"]:
                piece = " ".join(word["inferText"] for word in line["cellWords"])
                text = _cell_join(text, piece)
            spans = (f' rowspan="{cell["rowSpan"]}"' if cell["rowSpan"] > 1 else "") + (
                f' colspan="{cell["columnSpan"]}"' if cell["columnSpan"] > 1 else ""
            )
            out.append(f"<td{spans}>{_escape(text)}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _cell_join(text: str, piece: str) -> str:
    from inference.layout.cells import _joined

    return _joined([t for t in (text, piece) if t])


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


STATEMENTS = 3


def _sets(
    data: Path, work: Path, count: int, limit: int | None, wanted: set[str] | None = None
) -> dict[str, list[tuple[Path, str]]]:
    wanted = wanted or {"pubtabnet", "zh"}
    sets = {}
    if "pubtabnet" in wanted and (data / "manifest.jsonl").is_file():
        items = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines() if line.strip()]
        sets["pubtabnet"] = [(data / item["image"], item["html"]) for item in items]
    if "zh" in wanted:
        started = time.perf_counter()
        records = table_images.generate(work / "zh", count=count)
        print(f"generated {len(records)} Chinese table images in {time.perf_counter() - started:.0f} s")
        sets["zh-plain"] = [(work / "zh" / r["image"], r["html"]) for r in records if r["variant"] == "plain"]
        sets["zh-photo"] = [(work / "zh" / r["image"], r["html"]) for r in records if r["variant"] == "photo"]
    if "statement" in wanted:
        # Ruled 40-row bank statements on whole pages (bench/table_pages.py): the time a
        # table-heavy page takes.
        sets["zh-statement"] = []
        for seed in range(1, STATEMENTS + 1):
            image, drawn = table_pages.ruled_statement(rows=40, seed=seed)
            path = work / f"statement_{seed}.png"
            cv2.imwrite(str(path), image)
            sets["zh-statement"].append((path, drawn.html()))
    if limit:
        sets = {name: items[:limit] for name, items in sets.items()}
    return sets


def _clova_request(base: str, path: Path | None, data: bytes, fmt: str) -> dict:
    """One image posted to the CLOVA route with enableTableDetection (V2): its answer's image."""
    import base64
    import urllib.request

    message = {
        "version": "V2",
        "requestId": "bench",
        "timestamp": 0,
        "enableTableDetection": True,
        "images": [{"format": fmt, "name": path.stem if path else "crop", "data": base64.b64encode(data).decode()}],
    }
    request = urllib.request.Request(
        base + "/custom/v1/bench/signature/general",
        data=json.dumps(message).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())["images"][0]


def _print_teds(title: str, results: dict[tuple[str, str], list[tuple[float, float, float]]]) -> None:
    if not results:
        return
    print(f"\n{title}\n")
    print("| set | system | images | TEDS | TEDS-struct | ms/image |")
    print("|---|---|---|---|---|---|")
    for (set_name, system), scores in results.items():
        full, struct, ms = np.mean(scores, axis=0)
        print(f"| {set_name} | {system} | {len(scores)} | {full:.3f} | {struct:.3f} | {ms:.0f} |")


def run_ctdar(args, read, reference) -> dict[tuple[str, str, str], ctdar.Tally]:
    """The real Chinese tables, each half apart: `read(image, path or None)` -> (CLOVA V2 tables,
    OCR lines as rapid-table takes them, ms) on each whole page and on each table's crop;
    rapid-table (`reference`, or None) on the crops with the same lines."""
    pages = ctdar.load(args.ctdar)
    halves = ctdar.halves(pages)
    wanted = ["choosing", "held-out"] if args.half == "both" else [args.half]
    tallies: dict[tuple[str, str, str], ctdar.Tally] = {}
    dumped = []
    for half in wanted:
        for page in halves[half][: args.limit or None]:
            image = cv2.imread(str(page.image))
            assert image is not None, page.image
            tables, _, ms = read(image, page.image)
            predicted = ctdar.from_clova(tables)
            tally = ctdar.score(page.tables, predicted, whole_page=True)
            tally.ms.append(ms)
            tallies.setdefault((half, "ours (clova)", "pages"), ctdar.Tally()).add(tally)
            dumped.append({"page": page.name, "half": half, "where": "page", "ours": [p.html() for p in predicted]})
            height, width = image.shape[:2]
            for n, table in enumerate(page.tables):
                x0, y0, x1, y1 = ctdar.crop_box(table.outline, width, height)
                crop = np.ascontiguousarray(image[y0:y1, x0:x1])
                tables, ocr, ms = read(crop, None)
                predicted = ctdar.from_clova(tables, x0, y0)
                tally = ctdar.score([table], predicted, whole_page=False)
                tally.ms.append(ms)
                tallies.setdefault((half, "ours (clova)", "crops"), ctdar.Tally()).add(tally)
                row = {"page": page.name, "table": n, "half": half, "where": "crop", "truth": table.html()}
                row["ours"] = [p.html() for p in predicted]
                if reference is not None:
                    started = time.perf_counter()
                    theirs = ctdar.rapid_table_tables(reference, crop, ocr, x0, y0)
                    ms = 1000 * (time.perf_counter() - started)
                    tally = ctdar.score([table], theirs, whole_page=False)
                    tally.ms.append(ms)
                    tallies.setdefault((half, "rapid-table 0.3.0", "crops"), ctdar.Tally()).add(tally)
                    row["reference"] = [p.html() for p in theirs]
                dumped.append(row)
    if args.dump:
        with open(args.dump, "a", encoding="utf-8") as out:
            for row in dumped:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return tallies


def _print_ctdar(tallies: dict[tuple[str, str, str], ctdar.Tally]) -> None:
    if not tallies:
        return
    print(
        "\nReal Chinese tables (tables_zh_ctdar; halves by file name: the first 52 pages chose the"
        " thresholds, the last 51 are held out). found: tables with a predicted outline at IoU >= 0.8"
        " (whole pages; one-to-one); cells: F1 of text boxes (ctdar.matched_cells); TEDS-struct"
        " against the structure derived from the adjacency; as labelled: each cell shrunk to the"
        " rows and columns its text lies in, empty cells dropped (PredictedTable.as_labelled).\n"
    )
    print("| half | system | input | tables | found | precision | cell F1 | TEDS-struct | as labelled | ms/image |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (half, system, where), t in tallies.items():
        if where == "pages":
            found = f"{t.found / t.truth_tables:.3f} ({t.found}/{t.truth_tables})"
            precision = f"{t.found / t.predicted_tables:.3f}" if t.predicted_tables else "-"
        else:
            found = precision = "-"
        print(
            f"| {half} | {system} | {where} | {t.truth_tables} | {found} | {precision} | {t.cell_f1:.3f} |"
            f" {np.mean(t.teds_struct):.3f} | {np.mean(t.teds_labelled):.3f} | {np.mean(t.ms):.0f} |"
        )
    with_text = {key: t for key, t in tallies.items() if t.teds_text}
    if with_text:
        print(
            "\nTEDS with text on the tables whose cells were labelled by hand"
            " (bench/data/tables_zh_ctdar_text.json; whitespace dropped on both sides):\n"
        )
        print("| half | system | input | tables | TEDS | as labelled |\n|---|---|---|---|---|---|")
        for (half, system, where), t in with_text.items():
            print(
                f"| {half} | {system} | {where} | {len(t.teds_text)} | {np.mean(t.teds_text):.3f} |"
                f" {np.mean(t.teds_text_labelled):.3f} |"
            )


def _reference(args):
    if args.no_reference:
        return None
    try:
        from rapid_table import RapidTable  # type: ignore[import-untyped]

        return RapidTable()
    except Exception as exc:  # its dependencies may be missing
        print(f"rapid-table's pipeline is not available here: {exc}")
        return None


def over_http(args) -> int:
    """Ours as a CLOVA client gets it: each image posted to the local stack's CLOVA route with
    enableTableDetection, the answer's `tables` scored; rapid-table beside it on the real
    tables' crops, given the lines of the same answer (its V2 words joined back into lines)."""
    from bench.stack import LocalStack

    wanted = set(args.sets.split(","))
    reference = _reference(args) if "ctdar" in wanted else None
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, LocalStack() as stack:
        for set_name, items in _sets(args.data, Path(tmp), args.count, args.limit, wanted).items():
            for path, truth in items:
                started = time.perf_counter()
                answer = _clova_request(stack.base, path, path.read_bytes(), path.suffix.lstrip(".").lower())
                ms = 1000 * (time.perf_counter() - started)
                ours = clova_html(answer.get("tables", []))
                results.setdefault((set_name, "ours (clova, HTTP)"), []).append(
                    (teds(ours, truth), teds(ours, truth, structure_only=True), ms)
                )

        def read(image: np.ndarray, path: Path | None):
            if path is not None:
                data, fmt = path.read_bytes(), path.suffix.lstrip(".").lower()
            else:
                ok, encoded = cv2.imencode(".png", image)
                assert ok
                data, fmt = encoded.tobytes(), "png"
            started = time.perf_counter()
            answer = _clova_request(stack.base, path, data, fmt)
            ms = 1000 * (time.perf_counter() - started)
            return answer.get("tables", []), ctdar.lines_from_clova(answer.get("fields", [])), ms

        tallies = run_ctdar(args, read, reference) if "ctdar" in wanted else {}
    print(f"\n{datetime.date.today().isoformat()}, python -m bench.tables --http (the CLOVA route of make serve)")
    _print_teds("TEDS (ms: the whole request over HTTP)", results)
    _print_ctdar(tallies)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--ctdar", type=Path, default=ctdar.DEFAULT_DATA, help="the real Chinese tables")
    parser.add_argument(
        "--sets",
        default="pubtabnet,zh,statement,ctdar",
        help="of pubtabnet, zh (rendered by Chromium), statement (40-row ruled statements, drawn), ctdar (real)",
    )
    parser.add_argument("--half", choices=("choosing", "held-out", "both"), default="both", help="of ctdar's pages")
    parser.add_argument("--count", type=int, default=12, help="Chinese tables to generate (each plain and photo)")
    parser.add_argument("--limit", type=int, default=None, help="images per set (pages per half)")
    parser.add_argument("--no-reference", action="store_true", help="skip rapid-table's own pipeline")
    parser.add_argument("--dump", type=Path, default=None, help="write each prediction here (JSON lines)")
    parser.add_argument(
        "--http", action="store_true", help="ours through the CLOVA route of `make serve`'s stack over HTTP instead"
    )
    args = parser.parse_args(argv)
    if args.dump:
        args.dump.write_text("", encoding="utf-8")
    if args.http:
        return over_http(args)

    from frontend.doors.clova import _tables as clova_tables
    from inference.config import EngineConfig
    from inference.engine import OcrEngine

    engine = OcrEngine(EngineConfig.from_env())
    reference = _reference(args)
    wanted = set(args.sets.split(","))
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    dumped: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for set_name, items in _sets(args.data, Path(tmp), args.count, args.limit, wanted).items():
            for path, truth in items:
                image = cv2.imread(str(path))
                assert image is not None, path
                started = time.perf_counter()
                lines, tables = engine.read_tables(image, detail=True)
                ms = 1000 * (time.perf_counter() - started)
                ours = clova_html(clova_tables(tables, v2=True))
                results.setdefault((set_name, "ours (clova)"), []).append(
                    (teds(ours, truth), teds(ours, truth, structure_only=True), ms)
                )
                row = {"set": set_name, "image": path.name, "ours": ours}
                if reference is not None:
                    started = time.perf_counter()
                    ocr = [(line["box"], line["words"], line["score"]) for line in lines]
                    theirs = reference(image, ocr)[0] if ocr else "<table></table>"
                    ms = 1000 * (time.perf_counter() - started)
                    results.setdefault((set_name, "rapid-table 0.3.0"), []).append(
                        (teds(theirs, truth), teds(theirs, truth, structure_only=True), ms)
                    )
                    row["reference"] = theirs
                dumped.append(json.dumps({**row, "truth": truth}, ensure_ascii=False))
    if args.dump:
        with open(args.dump, "a", encoding="utf-8") as out:
            out.write("\n".join(dumped) + "\n")

    def read(image: np.ndarray, path: Path | None):
        started = time.perf_counter()
        lines, tables = engine.read_tables(image, detail=True)
        ms = 1000 * (time.perf_counter() - started)
        return clova_tables(tables, v2=True), [(line["box"], line["words"], line["score"]) for line in lines], ms

    tallies = run_ctdar(args, read, reference) if "ctdar" in wanted else {}
    engine.close()
    print(f"\n{datetime.date.today().isoformat()}, python -m bench.tables, threads {engine.config.threads or 'all'}")
    _print_teds("TEDS (ms: ours OCR + tables; the reference its structure and matching)", results)
    _print_ctdar(tallies)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
