"""`make bench-tables`: table recognition, scored by TEDS (PubTabNet's tree-edit-distance
similarity, full and structure-only), on PubTabNet's 20 example tables and on Chinese tables
generated now (bench/table_images.py: plain renders and photo-like variants).

Systems:
* `ours (clova)`: our engine (OCR + tables.py), its tables shaped by the CLOVA door
  (frontend/doors/clova.py `_tables`, V2) and scored from that shape (rowIndex, columnIndex,
  spans and cellWords' inferText), the way a CLOVA client sees them.
* `rapid-table`: rapid-table 0.3.0's own pipeline (SLANet-plus and its matcher) on the whole
  image, given our OCR lines (it has no OCR of its own here).

Both sides are normalised alike before scoring (the PubTabNet set's SOURCE.md): th -> td,
thead/tbody dropped, b/i/sup/sub unwrapped, NFKC, whitespace collapsed.

    python -m bench.tables [--data ../shared/eval/tables_pubtabnet] [--count 12] [--limit N]
"""

from __future__ import annotations

import argparse
import datetime
import json
import tempfile
import time
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
from apted import APTED, Config  # type: ignore[import-untyped]

from . import table_images

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "tables_pubtabnet"


class Node:
    def __init__(self, tag: str, colspan: int = 1, rowspan: int = 1):
        self.tag, self.colspan, self.rowspan = tag, colspan, rowspan
        self.content: list[str] = []
        self.children: list[Node] = []


class _TreeBuilder(HTMLParser):
    """The first <table>'s tree: table > tr > td, each td with its text (characters)."""

    SKIP = {"thead", "tbody", "tfoot", "b", "i", "sup", "sub", "strong", "em", "span", "br", "html", "body"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root: Node | None = None
        self.stack: list[Node] = []
        self.done = False

    def handle_starttag(self, tag, attrs):
        if self.done or tag in self.SKIP:
            return
        tag = "td" if tag == "th" else tag
        values = dict(attrs)
        node = Node(tag, int(values.get("colspan") or 1), int(values.get("rowspan") or 1))
        if tag == "table" and self.root is None:
            self.root = node
            self.stack = [node]
        elif self.stack and tag in ("tr", "td"):
            while self.stack and not _may_hold(self.stack[-1].tag, tag):
                self.stack.pop()
            if self.stack:
                self.stack[-1].children.append(node)
                self.stack.append(node)

    def handle_endtag(self, tag):
        tag = "td" if tag == "th" else tag
        if self.done or tag in self.SKIP:
            return
        if tag == "table":
            self.done = True
            return
        while self.stack and self.stack[-1].tag != tag and self.stack[-1].tag != "table":
            self.stack.pop()
        if self.stack and self.stack[-1].tag == tag:
            self.stack.pop()

    def handle_data(self, data):
        if not self.done and self.stack and self.stack[-1].tag == "td":
            self.stack[-1].content.append(data)


def _may_hold(parent: str, child: str) -> bool:
    return (parent == "table" and child == "tr") or (parent == "tr" and child == "td")


def _normal_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def parse(html: str, structure_only: bool) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    root = builder.root or Node("table")
    for node in _walk(root):
        text = _normal_text("".join(node.content))
        node.content = [] if structure_only else list(text)
    return root


def _walk(node: Node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _levenshtein(a: list[str], b: list[str]) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


class _TedsConfig(Config):
    """PubTabNet's costs: insert and delete 1; rename 1 between different tags or spans, else
    for cells the normalised edit distance of their texts, else 0."""

    def rename(self, a: Node, b: Node) -> float:
        if a.tag != b.tag or a.colspan != b.colspan or a.rowspan != b.rowspan:
            return 1.0
        if a.tag == "td" and (a.content or b.content):
            return _levenshtein(a.content, b.content) / max(len(a.content), len(b.content))
        return 0.0

    def children(self, node: Node) -> list[Node]:
        return node.children


def teds(predicted: str, truth: str, structure_only: bool = False) -> float:
    """1 - TED(pred, truth) / max(|pred|, |truth|), nodes counted as trees of table, tr, td."""
    a, b = parse(predicted, structure_only), parse(truth, structure_only)
    size = max(sum(1 for _ in _walk(a)), sum(1 for _ in _walk(b)))
    distance = APTED(a, b, _TedsConfig()).compute_edit_distance()
    return max(0.0, 1.0 - distance / size)


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


def _sets(data: Path, work: Path, count: int, limit: int | None) -> dict[str, list[tuple[Path, str]]]:
    sets = {}
    if (data / "manifest.jsonl").is_file():
        items = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines() if line.strip()]
        sets["pubtabnet"] = [(data / item["image"], item["html"]) for item in items]
    started = time.perf_counter()
    records = table_images.generate(work / "zh", count=count)
    print(f"generated {len(records)} Chinese table images in {time.perf_counter() - started:.0f} s")
    sets["zh-plain"] = [(work / "zh" / r["image"], r["html"]) for r in records if r["variant"] == "plain"]
    sets["zh-photo"] = [(work / "zh" / r["image"], r["html"]) for r in records if r["variant"] == "photo"]
    if limit:
        sets = {name: items[:limit] for name, items in sets.items()}
    return sets


def over_http(args) -> int:
    """Ours as a CLOVA client gets it: each image posted to the local stack's CLOVA route with
    enableTableDetection, the answer's `tables` scored."""
    import base64
    import urllib.request

    from bench.stack import LocalStack

    results: dict[str, list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, LocalStack() as stack:
        for set_name, items in _sets(args.data, Path(tmp), args.count, args.limit).items():
            for path, truth in items:
                message = {
                    "version": "V2",
                    "requestId": "bench",
                    "timestamp": 0,
                    "enableTableDetection": True,
                    "images": [
                        {
                            "format": path.suffix.lstrip(".").lower(),
                            "name": path.stem,
                            "data": base64.b64encode(path.read_bytes()).decode(),
                        }
                    ],
                }
                request = urllib.request.Request(
                    stack.base + "/custom/v1/bench/signature/general",
                    data=json.dumps(message).encode(),
                    headers={"Content-Type": "application/json"},
                    method="POST",
                )
                started = time.perf_counter()
                with urllib.request.urlopen(request, timeout=120) as answer:
                    tables = json.loads(answer.read())["images"][0].get("tables", [])
                ms = 1000 * (time.perf_counter() - started)
                ours = clova_html(tables)
                results.setdefault(set_name, []).append((teds(ours, truth), teds(ours, truth, structure_only=True), ms))
    print(f"\n{datetime.date.today().isoformat()}, python -m bench.tables --http (the CLOVA route of make serve)\n")
    print("| set | images | TEDS | TEDS-struct | ms/image over HTTP |\n|---|---|---|---|---|")
    for set_name, scores in results.items():
        full, struct, ms = np.mean(scores, axis=0)
        print(f"| {set_name} | {len(scores)} | {full:.3f} | {struct:.3f} | {ms:.0f} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--count", type=int, default=12, help="Chinese tables to generate (each plain and photo)")
    parser.add_argument("--limit", type=int, default=None, help="images per set")
    parser.add_argument("--no-reference", action="store_true", help="skip rapid-table's own pipeline")
    parser.add_argument("--dump", type=Path, default=None, help="write each prediction here (JSON lines)")
    parser.add_argument(
        "--http", action="store_true", help="ours through the CLOVA route of `make serve`'s stack over HTTP instead"
    )
    args = parser.parse_args(argv)
    if args.http:
        return over_http(args)

    from frontend.doors.clova import _tables as clova_tables
    from inference.config import EngineConfig
    from inference.engine import OcrEngine

    engine = OcrEngine(EngineConfig.from_env())
    reference = None
    if not args.no_reference:
        try:
            from rapid_table import RapidTable  # type: ignore[import-untyped]

            reference = RapidTable()
        except Exception as exc:  # its dependencies may be missing
            print(f"rapid-table's pipeline is not available here: {exc}")
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    dumped: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for set_name, items in _sets(args.data, Path(tmp), args.count, args.limit).items():
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
        args.dump.write_text("\n".join(dumped) + "\n", encoding="utf-8")
    engine.close()
    print(f"\n{datetime.date.today().isoformat()}, python -m bench.tables, threads {engine.config.threads or 'all'}\n")
    print("| set | system | images | TEDS | TEDS-struct | ms/image (tables; reference: structure+match) |")
    print("|---|---|---|---|---|---|")
    for (set_name, system), scores in results.items():
        full, struct, ms = np.mean(scores, axis=0)
        print(f"| {set_name} | {system} | {len(scores)} | {full:.3f} | {struct:.3f} | {ms:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
