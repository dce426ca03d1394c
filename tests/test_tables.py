"""Tables: the structure decoder, the `tables` protocol option, and CLOVA's `tables[]`
(enableTableDetection) in the shape its document gives, with and without the models."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from ocr_contract.protocol import InvokeOptions
from tests.conftest import fixture_bytes
from tests.fakes import api_event

CLOVA = "/custom/v1/33675/8f694ccb00dbd8001e9b0fcbac/general"
REFERENCE = Path("/work/shared/reference/003_4f97f9a6955cc692.txt")
TYPES = {"String": str, "Integer": int, "Float": float, "Boolean": bool, "Array": list, "Object": dict}
# CLOVA General OCR's response, as its document describes tables[] (sections "tables", "cells",
# "cellTextLines", "cellWords", "vertices"): each field and its type. boundingPoly: "Provided
# only if version is V2".
DOCUMENTED = {
    "tables": {"cells": "Array", "inferText": "String", "inferConfidence": "Float", "boundingPoly": "Object"},
    "cells": {
        "boundingPoly": "Object",
        "cellTextLines": "Array",
        "inferConfidence": "Float",
        "rowSpan": "Integer",
        "rowIndex": "Integer",
        "columnSpan": "Integer",
        "columnIndex": "Integer",
    },
    "cellTextLines": {"boundingPoly": "Object", "inferConfidence": "Float", "cellWords": "Array"},
    "cellWords": {"boundingPoly": "Object", "inferConfidence": "Float", "inferText": "String"},
    "vertices": {"x": "Float", "y": "Float"},
}
CHILD = {
    "tables": ("cells", "cells"),
    "cells": ("cellTextLines", "cellTextLines"),
    "cellTextLines": ("cellWords", "cellWords"),
}


def _documented_fields(text: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        heading = re.match(r"The following describes (\w+)\.", line)
        if heading:
            current = sections.setdefault(heading.group(1), {})
            continue
        field = re.match(r"^(\w+)(String|Integer|Float|Boolean|Array|Object)-", line)
        if field and current is not None:
            current[field.group(1)] = field.group(2)
    return sections


@pytest.mark.skipif(not REFERENCE.is_file(), reason="CLOVA's reference document is not on this machine")
def test_the_transcribed_fields_are_the_documents():
    documented = _documented_fields(REFERENCE.read_text(encoding="utf-8"))
    for section, fields in DOCUMENTED.items():
        assert documented[section] == fields, section


def check_documented(item: dict, section: str, v2: bool) -> None:
    """Every field of `item` is one the document gives `section`, of its type; all of them are
    there (boundingPoly in V2 only); the nested arrays likewise."""
    expected = dict(DOCUMENTED[section])
    if not v2:
        expected.pop("boundingPoly", None)
    assert set(item) == set(expected), (section, sorted(item))
    for name, kind in expected.items():
        value = item[name]
        if kind == "Float":
            assert isinstance(value, (int, float)) and not isinstance(value, bool), (section, name)
        else:
            assert isinstance(value, TYPES[kind]) and not (kind == "Integer" and isinstance(value, bool)), (
                section,
                name,
            )
    if "inferConfidence" in item:
        assert 0 <= item["inferConfidence"] <= 1
    if "boundingPoly" in item:
        assert set(item["boundingPoly"]) == {"vertices"} and len(item["boundingPoly"]["vertices"]) == 4
        for vertex in item["boundingPoly"]["vertices"]:
            check_documented(vertex, "vertices", v2)
    if section in CHILD:
        key, child = CHILD[section]
        for sub in item[key]:
            check_documented(sub, child, v2)


def clova_message(version: str, image: bytes, tables: bool | None) -> str:
    message = {
        "version": version,
        "requestId": "t-1",
        "timestamp": 1722225600000,
        "images": [{"format": "png", "name": "table", "data": base64.b64encode(image).decode()}],
    }
    if tables is not None:
        message["enableTableDetection"] = tables
    return json.dumps(message)


def call(event):
    from frontend.handler import handler

    response = handler(event, None)
    return response["statusCode"], json.loads(response["body"])


# ---- without models ---------------------------------------------------------------------------


def test_tables_option_travels_in_the_header():
    header = InvokeOptions(tables=True, detail=True).header()
    assert "tables=1" in header.split(",")
    assert InvokeOptions.parse(header).tables is True
    assert "tables" not in InvokeOptions().header() and InvokeOptions.parse("v=1").tables is False


def test_structure_tokens_place_cells_past_row_spans():
    from inference.layout.structure import decode_structure

    vocabulary = ["sos", "<tr>", "</tr>", "<td", ">", "</td>", ' rowspan="2"', ' colspan="2"', "<td></td>", "eos"]
    steps = ["<tr>", "<td", ' rowspan="2"', ">", "</td>", "<td", ' colspan="2"', ">", "</td>", "</tr>"]
    steps += ["<tr>", "<td></td>", "<td></td>", "</tr>", "eos"]
    probs = np.zeros((len(steps), len(vocabulary)), np.float32)
    for i, token in enumerate(steps):
        probs[i, vocabulary.index(token)] = 1.0
    structure = decode_structure(vocabulary, probs, np.zeros((len(steps), 8)), lambda b: b.reshape(4, 2))
    assert structure is not None and (structure.rows, structure.columns) == (2, 3)
    placed = [(c.row, c.column, c.row_span, c.col_span) for c in structure.cells]
    assert placed == [(0, 0, 2, 1), (0, 1, 1, 2), (1, 1, 1, 1), (1, 2, 1, 1)]


def canned_table() -> dict:
    line = {
        "words": "办公用纸 A4",
        "location": {"top": 10, "left": 10, "width": 70, "height": 20},
        "score": 0.98,
        "box": [[10, 10], [80, 10], [80, 30], [10, 30]],
        "chars": [[[10 + 10 * i, 10], [20 + 10 * i, 10], [20 + 10 * i, 30], [10 + 10 * i, 30]] for i in range(7)],
    }
    cell = {"row": 0, "column": 0, "rowSpan": 1, "columnSpan": 2, "text": "办公用纸 A4", "score": 0.98}
    return {
        "box": [[0, 0], [200, 0], [200, 40], [0, 40]],
        "score": 0.97,
        "rows": 1,
        "columns": 3,
        "cells": [
            {**cell, "box": [[0, 0], [120, 0], [120, 40], [0, 40]], "lines": [line]},
            {"row": 0, "column": 2, "rowSpan": 1, "columnSpan": 1, "text": "", "score": 0.0,
             "box": [[120, 0], [200, 0], [200, 40], [120, 40]], "lines": []},
        ],
        "html": '<table><tr><td colspan="2">办公用纸 A4</td><td></td></tr></table>',
    }  # fmt: skip


@pytest.mark.parametrize("version", ["V1", "V2"])
def test_clova_tables_have_the_documents_shape(fake_runtime, version):
    fake_runtime.tables = [canned_table()]
    status, body = call(api_event(CLOVA, clova_message(version, fixture_bytes("ruled_table.png"), True)))
    assert status == 200
    (image,) = body["images"]
    assert fake_runtime.calls[-1]["attributes"]["tables"] == "1"
    (table,) = image["tables"]
    check_documented(table, "tables", version == "V2")
    first, empty = table["cells"]
    assert (first["rowIndex"], first["columnIndex"], first["rowSpan"], first["columnSpan"]) == (0, 0, 1, 2)
    assert [w["inferText"] for w in first["cellTextLines"][0]["cellWords"]] == ["办公用纸", "A4"]
    assert empty["cellTextLines"] == [] and table["inferText"] == "办公用纸 A4"
    # V1's fields stay as without tables (location boxes, no V2 fields).
    assert all(set(f) == {"valueType", "boundingPoly", "inferText", "inferConfidence"} for f in image["fields"]) or (
        version == "V2"
    )


@pytest.mark.parametrize("tables", [None, False])
def test_clova_without_table_detection_asks_for_none_and_answers_no_tables_key(fake_runtime, tables):
    status, body = call(api_event(CLOVA, clova_message("V2", fixture_bytes("ruled_table.png"), tables)))
    assert status == 200
    assert "tables" not in fake_runtime.calls[-1]["attributes"]
    assert "tables" not in body["images"][0]


# ---- with the models --------------------------------------------------------------------------


class EngineRuntime:
    """The SageMaker runtime, answered by the container's own task code on the real engine."""

    def __init__(self, engine):
        self.engine = engine
        self.calls: list[dict] = []

    def invoke_endpoint(self, **request):
        import io

        from inference.serving.server import TASKS

        options = InvokeOptions.parse(request["CustomAttributes"])
        self.calls.append({"options": options})
        result, _ = TASKS[options.task](self.engine, request["Body"], time.monotonic() + 60, options)
        return {"Body": io.BytesIO(json.dumps(result).encode()), "ContentType": "application/json"}


@pytest.fixture
def engine_runtime(engine, monkeypatch):
    from frontend import endpoint

    runtime = EngineRuntime(engine)
    monkeypatch.setenv("ENDPOINT_NAME", "ocr-endpoint")
    monkeypatch.setattr(endpoint, "_runtime", lambda timeout: runtime)
    return runtime


def _norm(text: str) -> str:
    return "".join(text.split())


def _grid(table: dict) -> dict:
    """A CLOVA table's cells: (row, column) -> (row span, column span, its words joined)."""
    return {
        (c["rowIndex"], c["columnIndex"]): (
            c["rowSpan"],
            c["columnSpan"],
            _norm("".join(w["inferText"] for line in c["cellTextLines"] for w in line["cellWords"])),
        )
        for c in table["cells"]
    }


@pytest.mark.parametrize("version", ["V2", "V1"])
def test_clova_reads_a_ruled_table_into_rows_columns_and_spans(engine_runtime, version):
    status, body = call(api_event(CLOVA, clova_message(version, fixture_bytes("ruled_table.png"), True)))
    assert status == 200
    (image,) = body["images"]
    (table,) = image["tables"]
    check_documented(table, "tables", version == "V2")
    grid = _grid(table)
    assert grid == {
        (0, 0): (1, 1, "项目"),
        (0, 1): (1, 1, "数量"),
        (0, 2): (1, 1, "金额"),
        (1, 0): (1, 1, "办公用纸"),
        (1, 1): (1, 1, "12"),
        (1, 2): (1, 1, "360.00"),
        (2, 0): (1, 1, "中性笔"),
        (2, 1): (1, 1, "40"),
        (2, 2): (1, 1, "96.00"),
        (3, 0): (1, 2, "合计"),
        (3, 2): (1, 1, "456.00"),
    }


def test_lines_answer_is_the_bare_list_unless_tables_are_asked(engine):
    from inference.serving.server import _run_ocr

    data = fixture_bytes("ruled_table.png")
    deadline = time.monotonic() + 60
    bare, _ = _run_ocr(engine, data, deadline, InvokeOptions())
    assert isinstance(bare, list) and bare and set(bare[0]) == {"words", "location", "score"}
    both, _ = _run_ocr(engine, data, deadline, InvokeOptions(tables=True))
    assert isinstance(both, dict) and set(both) == {"lines", "tables"}
    assert both["lines"] == bare  # the same lines, without `detail`'s fields
    (table,) = both["tables"]
    assert (table["rows"], table["columns"]) == (4, 3)
    assert table["html"].startswith("<table><tr><td>") and '<td colspan="2">合计</td>' in table["html"]


# ---- ruled tables read from their rules (inference/layout/rules.py), without models ------------


def _ruled_image(xs, ys, missing=(), size=(700, 500)):
    """A white image with rules at the row borders `ys` (each across xs[0]..xs[-1]) and the
    column borders `xs`, less the `missing` parts: ("v", column border, row) or ("h", row
    border, column); each part 2 px thick."""
    import cv2

    image = np.full((size[1], size[0], 3), 255, np.uint8)
    for r, y in enumerate(ys):
        for c in range(len(xs) - 1):
            if ("h", r, c) not in missing:
                cv2.line(image, (xs[c], y), (xs[c + 1], y), (0, 0, 0), 2)
    for c, x in enumerate(xs):
        for r in range(len(ys) - 1):
            if ("v", c, r) not in missing:
                cv2.line(image, (x, ys[r]), (x, ys[r + 1]), (0, 0, 0), 2)
    return image


def _spans(grid):
    return {(c.row, c.column): (c.row_span, c.col_span) for c in grid.cells}


def test_a_ruled_grid_gives_rows_columns_and_the_merged_cells_its_missing_rules_show():
    import cv2

    from inference.layout.ruled import PageRules

    xs, ys = [50, 200, 320, 440, 600], [40, 80, 110, 150, 190, 230]
    # A header across columns 1-2 (no rule between them in row 0), a label down rows 2-3 of
    # column 0 (no rule between them), the outer sides left open (no rules at x 50 and 600).
    missing = {("v", 2, 0), ("h", 3, 0)} | {("v", 0, r) for r in range(5)} | {("v", 4, r) for r in range(5)}
    image = _ruled_image(xs, ys, missing)
    # Text strokes shorter than a rule (a character's) and a low row (30 px, its column rules
    # shorter than a long rule) do not change it.
    cv2.putText(image, "IIII", (230, 140), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 2)
    grid = PageRules.of(image, unit=20).grid_at((60, 45, 590, 225))
    assert grid is not None and (grid.rows, grid.columns) == (5, 4)
    assert np.allclose(grid.xs, xs, atol=2) and np.allclose(grid.ys, ys, atol=2)
    spans = _spans(grid)
    assert spans[(0, 1)] == (1, 2) and (0, 2) not in spans
    assert spans[(2, 0)] == (2, 1) and (3, 0) not in spans
    assert len(grid.cells) == 5 * 4 - 2


def test_the_grid_is_grown_to_the_outer_rules_and_ends_where_no_rule_crosses():
    from inference.layout.ruled import PageRules

    # Two ruled tables, the second's top rule 30 px under the first's bottom one: the band
    # between them (a caption) is crossed by no column rule, so they stay two tables.
    xs = [50, 250, 450]
    top, bottom = [40, 80, 120, 160], [190, 230, 270]
    missing = {("v", c, 3) for c in range(3)}
    image = _ruled_image(xs, top + bottom, missing)
    rules = PageRules.of(image, unit=20)
    # The layout model's box falls short of the first table's sides and bottom row.
    first = rules.grid_at((80, 50, 400, 130))
    assert first is not None and np.allclose(first.ys, top, atol=2) and np.allclose(first.xs, xs, atol=2)
    grids = sorted(rules.grids(), key=lambda g: g.ys[0])
    assert len(grids) == 2 and np.allclose(grids[1].ys, bottom, atol=2)


def test_a_table_whose_text_shows_rows_its_rules_do_not_is_left_to_the_model():
    from inference.layout.ruled import hidden_splits

    def line(x0, y0, x1, y1):
        return (x0, y0, x1, y1)

    # One ruled row holding three unruled rows: labels and amounts side by side, aligned.
    labels = [line(10, 10 + 30 * k, 90, 32 + 30 * k) for k in range(3)]
    amounts = [line(200, 10 + 30 * k, 260, 32 + 30 * k) for k in range(3)]
    assert hidden_splits([(0, 0, 1, 1, labels), (0, 1, 1, 1, amounts)]) >= 1
    # A cell's text wrapped over two lines beside one line centred across them: one row.
    wrapped = [line(10, 10, 90, 32), line(10, 36, 60, 58)]
    assert hidden_splits([(0, 0, 1, 1, wrapped), (0, 1, 1, 1, [line(200, 23, 260, 45)])]) == 0


def test_a_cells_lines_are_joined_top_to_bottom_and_left_to_right():
    from inference.layout.cells import in_reading_order

    def piece(text, left, top, width=60, height=20):
        return {"words": text, "location": {"left": left, "top": top, "width": width, "height": height}}

    pieces = [piece("有限公司", 10, 40), piece("北京京东", 10, 12), piece("(注1)", 75, 14)]
    assert [p["words"] for p in in_reading_order(pieces)] == ["北京京东", "(注1)", "有限公司"]


def test_clova_reads_a_40_row_ruled_statement_page_from_its_rules_in_time(engine_runtime):
    """A whole page: a title and a paragraph above a ruled statement of 40 transactions (a
    title row across all columns, payees wrapped over two lines, a total row whose label spans
    three columns), a note below; drawn now (bench/table_pages.py). Every cell, span and text
    as drawn, the table's box on its outer rules, answered well within the synchronous route's
    time budget."""
    import cv2

    from bench.table_pages import ruled_statement
    from ocr_contract.limits import FRONTEND_BUDGET_S

    image, drawn = ruled_statement(rows=40)
    ok, png = cv2.imencode(".png", image)
    started = time.monotonic()
    status, body = call(api_event(CLOVA, clova_message("V2", png.tobytes(), True)))
    elapsed = time.monotonic() - started
    assert status == 200
    (table,) = body["images"][0]["tables"]
    check_documented(table, "tables", True)
    grid = _grid(table)
    assert grid == {place: (rs, cs, _norm(text)) for place, (rs, cs, text) in drawn.cells.items()}
    corners = [(v["x"], v["y"]) for v in table["boundingPoly"]["vertices"]]
    x0, y0, x1, y1 = drawn.box
    assert np.allclose(corners, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], atol=3)
    assert elapsed < FRONTEND_BUDGET_S / 2, f"{elapsed:.1f} s"


def test_a_low_header_rows_short_rules_and_an_open_first_row_are_the_grids():
    import cv2

    from inference.layout.ruled import PageRules

    # Two years over two columns each, above a low second header row (28 px, under 2.2 text
    # heights) whose column rules are its own only; a label down both rows.
    xs, ys = [50, 200, 300, 400, 500, 600], [40, 80, 108]
    missing = {("v", 2, 0), ("v", 4, 0), ("h", 1, 0)}
    grid = PageRules.of(_ruled_image(xs, ys, missing), unit=20).grid_at((60, 45, 590, 100))
    assert grid is not None and (grid.rows, grid.columns) == (2, 5)
    assert _spans(grid) == {(0, 0): (2, 1), (0, 1): (1, 2), (0, 3): (1, 2)} | {(1, c): (1, 1) for c in range(1, 5)}
    # A table going on from the page before: its column rules run 30 px above its first row
    # rule, with no rule across them there; that row is the table's first.
    image = np.full((300, 500, 3), 255, np.uint8)
    for y in (80, 120, 160):
        cv2.line(image, (50, y), (450, y), (0, 0, 0), 2)
    for x in (50, 250, 450):
        cv2.line(image, (x, 50), (x, 160), (0, 0, 0), 2)
    grid = PageRules.of(image, unit=20).grid_at((55, 55, 445, 155))
    assert grid is not None and grid.rows == 3 and np.allclose(grid.ys, [50, 80, 120, 160], atol=2)


def test_a_line_across_a_rule_is_split_at_the_rule():
    from inference.layout.cells import filled
    from inference.layout.structure import Cell, Structure

    # One OCR line "金额合计" whose first two characters lie left of the rule at x=100, the last
    # two right of it (the detector read across the rule); a second line under it in the left
    # cell, given first: the cell reads top to bottom.
    def quad(x0, x1, y0=10, y1=30):
        return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]

    across = {
        "words": "金额合计",
        "location": {"top": 10, "left": 60, "width": 80, "height": 20},
        "score": 0.99,
        "box": quad(60, 140),
        "chars": [quad(60 + 20 * i, 80 + 20 * i) for i in range(4)],
    }
    below = {
        "words": "（元）",
        "location": {"top": 34, "left": 60, "width": 30, "height": 18},
        "score": 0.98,
        "box": quad(60, 90, 34, 52),
        "chars": [quad(60 + 10 * i, 70 + 10 * i, 34, 52) for i in range(3)],
    }
    structure = Structure([Cell(row=0, column=0), Cell(row=0, column=1)], 1, 2, 1.0)
    table = filled(structure, (0, 0, 200, 60), [below, across], edges=(np.array([0, 100, 200]), np.array([0, 60])))
    assert [cell["text"] for cell in table["cells"]] == ["金额（元）", "合计"]
    assert [piece["words"] for piece in table["cells"][0]["lines"]] == ["金额", "（元）"]


def test_clova_reads_a_small_print_english_table_word_for_word(engine_runtime):
    """A journal-style table in 10 px print with no column rules (the structure model's cell
    boxes place the column borders, a few characters off): each cell holds its own words, a
    long label is not cut at the border beside it, and short cells the angle classifier takes
    for upside down (a number, a two-letter label) read the right way up. The fixture's texts
    are its ROWS (tests/fixtures/render_small_print_table.py)."""
    status, body = call(api_event(CLOVA, clova_message("V2", fixture_bytes("small_print_table.png"), True)))
    assert status == 200
    (table,) = body["images"][0]["tables"]
    grid: dict[int, dict[int, str]] = {}
    for c in table["cells"]:
        text = " ".join(w["inferText"] for line in c["cellTextLines"] for w in line["cellWords"])
        grid.setdefault(c["rowIndex"], {})[c["columnIndex"]] = text
    rows = [[grid[r][k] for k in sorted(grid[r])] for r in sorted(grid)]
    assert rows == [
        ["Variable", "Hazard ratio", "Interval", "p value"],
        ["Age (median)", "", "", "0.716"],
        ["Healthcare services delay", "76.5", "0.310-2.268", "0.839"],
        ["Type of surgery", "", "", "0.010"],
        ["Grade", "1.933", "0.416-3.423", "0.936"],
        ["G3", "1.119", "0.137-9.137", "US"],
    ]


def _line(text: str, x0: float, y0: float, advance: float, height: float = 20) -> dict:
    """An OCR line whose characters are `advance` px each from x0 (a space too)."""

    def quad(a, b):
        return [[a, y0], [b, y0], [b, y0 + height], [a, y0 + height]]

    x1 = x0 + advance * len(text)
    return {
        "words": text,
        "location": {"top": y0, "left": x0, "width": x1 - x0, "height": height},
        "score": 0.99,
        "box": quad(x0, x1),
        "chars": [quad(x0 + advance * i, x0 + advance * (i + 1)) for i in range(len(text))],
    }


def test_a_column_border_the_model_drew_off_moves_to_the_gap_between_the_cells_text():
    from inference.layout.cells import filled
    from inference.layout.structure import Cell, Structure

    # Two columns, the right one's text from x 260; the model's boxes put the border at 200,
    # inside the left column's text. Row 0: one line the detector read across both cells
    # ("Healthcare services delay 76.5", "76.5" from x 260), parted at its last space. Row 1:
    # a Chinese line (no spaces) up to x 230. Row 2: the right cell's alone.
    lines = [
        _line("Healthcare services delay 76.5", 39, 10, 8.5),
        _line("营业收入合计", 110, 40, 20),
        _line("1,250.00", 260, 40, 8),
        _line("Total", 262, 70, 8),
    ]
    cells = [
        Cell(
            row=r, column=c, box=np.array([[x0, 10 + 30 * r], [x1, 10 + 30 * r], [x1, 30 + 30 * r], [x0, 30 + 30 * r]])
        )
        for r in range(3)
        for c, (x0, x1) in enumerate([(10, 190), (210, 330)])
    ]
    table = filled(Structure(cells, 3, 2, 1.0), (0, 0, 340, 100), lines)
    assert [[c["text"] for c in table["cells"] if c["row"] == r] for r in range(3)] == [
        ["Healthcare services delay", "76.5"],
        ["营业收入合计", "1,250.00"],
        ["", "Total"],
    ]
