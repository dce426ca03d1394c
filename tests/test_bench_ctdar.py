"""The real Chinese tables' scoring (bench/ctdar.py): the structure derived from the annotation's
cell boxes and adjacency, and the scores. A wrong derivation would misstate every system."""

from __future__ import annotations

from pathlib import Path

from bench import ctdar
from bench.teds import teds

# A table as cTDaR's relabelling gives it (content boxes, nearest neighbours): a "项目" label
# down two header rows, "本报告期" across two columns above "金额" and "占比" with no link
# down to them (the annotators left it out), two body rows.
XML = """<?xml version="1.0" encoding="UTF-8"?>
<document filename="t.jpg">
  <table>
    <Coords points="10,10 10,200 400,200 400,10"/>
    <cell id="0" neighbors="3:B"><Coords points="20,30 60,30 60,50 20,50"/></cell>
    <cell id="1" neighbors=""><Coords points="200,22 260,22 260,34 200,34"/></cell>
    <cell id="2" neighbors="4:B 5:R"><Coords points="150,44 190,44 190,56 150,56"/></cell>
    <cell id="5" neighbors="2:L 6:B"><Coords points="290,44 330,44 330,56 290,56"/></cell>
    <cell id="3" neighbors="0:T 4:R 7:B"><Coords points="20,90 90,90 90,102 20,102"/></cell>
    <cell id="4" neighbors="3:L 2:T 6:R 8:B"><Coords points="160,90 190,90 190,102 160,102"/></cell>
    <cell id="6" neighbors="4:L 5:T 9:B"><Coords points="300,90 330,90 330,102 300,102"/></cell>
    <cell id="7" neighbors="3:T 8:R"><Coords points="20,130 90,130 90,142 20,142"/></cell>
    <cell id="8" neighbors="7:L 4:T 9:R"><Coords points="160,130 190,130 190,142 160,142"/></cell>
    <cell id="9" neighbors="8:L 6:T"><Coords points="300,130 330,130 330,142 300,142"/></cell>
  </table>
</document>
"""


def _data(tmp_path: Path) -> Path:
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "p.xml").write_text(XML, encoding="utf-8")
    (tmp_path / "manifest.jsonl").write_text('{"image": "images/p.jpg", "annotation": "annotations/p.xml"}\n')
    return tmp_path


def test_rows_columns_and_spans_follow_from_the_boxes_and_adjacency(tmp_path):
    (page,) = ctdar.load(_data(tmp_path))
    (table,) = page.tables
    assert not table.problems and (table.rows, table.columns) == (4, 3)
    placed = {c.id: (c.row, c.column, c.row_span, c.col_span) for c in table.cells}
    assert placed["0"] == (0, 0, 2, 1)  # the label's box lies across the border under "本报告期"
    assert placed["1"] == (0, 1, 1, 2)  # across the column border between "金额" and "占比"
    assert placed["2"] == (1, 1, 1, 1) and placed["5"] == (1, 2, 1, 1)
    assert placed["9"] == (3, 2, 1, 1)
    assert table.html() == (
        '<table><tr><td rowspan="2"></td><td colspan="2"></td></tr><tr><td></td><td></td></tr>'
        "<tr><td></td><td></td><td></td></tr><tr><td></td><td></td><td></td></tr></table>"
    )


def _cell(row, column, row_span, col_span, content, box):
    return ctdar.PredictedCell(row, column, row_span, col_span, "x" if content else "", content, box)


def test_a_merged_cell_reads_as_the_annotation_can_say_it():
    # A title row across three columns whose text lies in the middle one, as a ruled table
    # reads; the annotation only has the text's box, so it reads as one cell and two empty ones.
    cells = [
        _cell(0, 0, 1, 3, (130, 12, 190, 28), (0, 0, 300, 40)),
        _cell(1, 0, 1, 1, (10, 52, 60, 68), (0, 40, 100, 80)),
        _cell(1, 1, 1, 1, (110, 52, 160, 68), (100, 40, 200, 80)),
        _cell(1, 2, 1, 1, (210, 52, 260, 68), (200, 40, 300, 80)),
    ]
    table = ctdar.PredictedTable((0, 0, 300, 80), cells)
    labelled = table.as_labelled()
    assert [(c.row, c.column, c.row_span, c.col_span) for c in labelled.cells][0] == (0, 1, 1, 1)
    truth = "<table><tr><td></td><td></td><td></td></tr><tr><td></td><td></td><td></td></tr></table>"
    assert teds(labelled.html(), truth, True) == 1.0 and teds(table.html(), truth, True) < 1.0


def test_cells_match_when_each_box_holds_the_others_centre_and_tables_by_outline():
    truth = [(10, 10, 30, 22), (100, 10, 160, 22)]
    # Padded text boxes match; one box over both cells (merged) matches neither.
    assert ctdar.matched_cells(truth, [(6, 5, 34, 27), (95, 6, 165, 26)]) == 2
    assert ctdar.matched_cells(truth, [(6, 5, 165, 27)]) == 0
    table = ctdar.TruthTable((0, 0, 200, 100), [])
    table.rows = table.columns = 0
    found = ctdar.score([table], [ctdar.PredictedTable((0, 0, 200, 90), [])], whole_page=True)
    missed = ctdar.score([table], [ctdar.PredictedTable((0, 0, 200, 70), [])], whole_page=True)
    assert (found.found, missed.found) == (1, 0)


def test_the_halves_are_the_first_52_pages_by_name_and_the_rest():
    pages = [ctdar.TruthPage(f"p{n:03d}", Path(f"p{n:03d}.jpg"), []) for n in range(103)]
    halves = ctdar.halves(list(reversed(pages)))
    assert [p.name for p in halves["choosing"]] == [f"p{n:03d}" for n in range(52)]
    assert len(halves["held-out"]) == 51 and halves["held-out"][0].name == "p052"


def test_cells_labelled_by_hand_give_teds_with_text(tmp_path):
    import json

    labels = tmp_path / "labels.json"
    texts = {"0": "项 目", "1": "本报告期", "2": "金额", "5": "占比", "3": "利息", "4": "1.0", "6": "2.0"}
    texts |= {"7": "合计", "8": "3.0", "9": "4.0"}
    labels.write_text(json.dumps({"tables": [{"page": "p", "table": 0, "cells": texts, "slots": {}}]}))
    (page,) = ctdar.load(_data(tmp_path), labels)
    (table,) = page.tables
    assert table.has_text and "<td>项目</td>" not in table.html() and '<td rowspan="2">项目</td>' in table.html(True)
    cells = [ctdar.PredictedCell(c.row, c.column, c.row_span, c.col_span, c.text, c.box) for c in table.cells]
    right = ctdar.score([table], [ctdar.PredictedTable(table.outline, cells)], whole_page=False)
    cells[-1].text = "4.6"
    wrong = ctdar.score([table], [ctdar.PredictedTable(table.outline, cells)], whole_page=False)
    assert right.teds_text == [1.0] and 0.9 < wrong.teds_text[0] < 1.0
