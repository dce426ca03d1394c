"""Markdown (jobs/outputs/markdown.py, reading.py) from result pages made here: reading order of
columns, a title over columns, vertical text, headings, tables, figures, running headers and
footers, page markers."""

from __future__ import annotations

import re

from jobs.outputs.markdown import escape, running_texts, write_markdown
from jobs.outputs.reading import Item, order


def line(words: str, x: float, y: float, w: float, h: float = 30) -> dict:
    return {"words": words, "location": {"left": x, "top": y, "width": w, "height": h}, "score": 0.99}


def region(kind: str, x: float, y: float, w: float, h: float) -> dict:
    return {"type": kind, "location": {"left": x, "top": y, "width": w, "height": h}, "score": 0.9}


def page(number: int, lines: list, regions: list | None = None, tables: list | None = None, **extra) -> dict:
    out = {"document": "d.pdf", "page": number, "width": 1000, "height": 1400, "lines": lines, "error": None}
    if regions is not None:
        out["regions"] = regions
    if tables is not None:
        out["tables"] = tables
    return {**out, **extra}


def markdown(pages: list, tmp_path) -> str:
    target = tmp_path / "out.md"
    write_markdown(lambda: iter(pages), target)
    return target.read_text(encoding="utf-8")


def body(text: str) -> list[str]:
    return [block for block in text.strip().split("\n\n") if block and not block.startswith("<!--")]


def two_columns() -> dict:
    """A title across the page, then two columns whose lines sit on the same baselines."""
    lines = [line("报告标题", 300, 100, 400, 60)]
    for n in range(6):
        lines.append(line(f"左栏第{n + 1}行文字内容", 80, 250 + 45 * n, 380))
        lines.append(line(f"右栏第{n + 1}行文字内容", 540, 250 + 45 * n, 380))
    return page(1, lines, [region("title", 290, 90, 420, 80)])


def test_a_title_over_two_columns_comes_first_then_each_column_top_to_bottom(tmp_path):
    blocks = body(markdown([two_columns()], tmp_path))
    assert blocks[0] == "# 报告标题"
    assert blocks[1] == "".join(f"左栏第{n}行文字内容" for n in range(1, 7))
    assert blocks[2] == "".join(f"右栏第{n}行文字内容" for n in range(1, 7))


def test_vertical_text_is_read_right_to_left(tmp_path):
    columns = [
        line(text, 800 - 70 * n, 200, 40, 500)
        for n, text in enumerate(["床前明月光", "疑是地上霜", "举头望明月", "低头思故乡"])
    ]
    blocks = body(markdown([page(1, list(reversed(columns)))], tmp_path))
    assert blocks == ["床前明月光疑是地上霜举头望明月低头思故乡"]


def test_three_columns_and_paragraphs(tmp_path):
    lines = []
    for column in range(3):
        for n in range(4):
            top = 200 + 45 * n + (30 if n >= 2 else 0)  # a paragraph break after two lines
            lines.append(line(f"列{column + 1}段{1 + (n >= 2)}行{n + 1}", 60 + 310 * column, top, 260))
    blocks = body(markdown([page(1, lines)], tmp_path))
    assert blocks == [f"列{c}段{p}行{a}列{c}段{p}行{b}" for c in (1, 2, 3) for p, (a, b) in ((1, (1, 2)), (2, (3, 4)))]


def test_headers_footers_and_page_numbers_are_left_out(tmp_path):
    pages = []
    for n in range(1, 5):
        lines = [
            line("某某公司 2026 年度报告", 300, 30, 400),  # a running header
            line(f"正文第{n}页的内容", 100, 600, 500),
            line(f"- {n} -", 480, 1340, 40),  # a page number
            line(f"机密 第{n}页", 800, 1345, 120),  # a running footer, its number changing
        ]
        pages.append(page(n, lines))
    text = markdown(pages, tmp_path)
    assert body(text) == [f"正文第{n}页的内容" for n in range(1, 5)]
    assert re.findall(r"<!-- page (\d+) -->", text) == ["1", "2", "3", "4"]
    assert {"某某公司#年度报告", "机密第#页"} <= running_texts(pages)


def test_the_layouts_header_and_footer_regions_are_left_out_on_one_page(tmp_path):
    lines = [line("页眉文字", 100, 30, 200), line("正文", 100, 500, 200), line("脚注区域", 100, 1330, 200)]
    regions = [region("header", 90, 20, 300, 50), region("footer", 90, 1320, 300, 50)]
    assert body(markdown([page(1, lines, regions)], tmp_path)) == ["正文"]


def test_tables_are_their_html_with_spans_and_figures_a_placeholder_with_their_caption(tmp_path):
    html = '<table><tr><td colspan="2">合计</td></tr><tr><td>1</td><td>2</td></tr></table>'
    table = {"box": [[100, 300], [900, 300], [900, 500], [100, 500]], "html": html}
    lines = [
        line("表格前的段落", 100, 200, 400),
        line("合计", 120, 320, 100),  # inside the table: the table carries it
        line("图中的刻度 100", 150, 700, 200),  # inside the figure: left out
        line("图1 销售额变化", 300, 960, 300),
        line("图后的段落", 100, 1100, 300),
    ]
    regions = [
        region("table", 95, 290, 810, 215),
        region("figure", 100, 600, 800, 340),
        region("figure_caption", 290, 950, 320, 50),
    ]
    blocks = body(markdown([page(1, lines, regions, [table])], tmp_path))
    assert blocks == [
        "表格前的段落",
        html,
        "<figure>\n<figcaption>图1 销售额变化</figcaption>\n</figure>",
        "图后的段落",
    ]


def test_a_failed_page_is_marked_and_text_is_escaped(tmp_path):
    failed = {**page(2, []), "error": {"code": "Timeout", "message": "late"}}
    text = markdown([page(1, [line("# 不是标题 <b>*x*</b>", 100, 500, 400)]), failed], tmp_path)
    assert "\\# 不是标题 \\<b\\>\\*x\\*\\</b\\>" in text
    assert "<!-- page 2 could not be read: Timeout -->" in text
    assert escape("1. 第一") == "1\\. 第一"


def test_xy_cut_reads_rows_of_a_form_left_to_right():
    items = [Item((100, 100, 200, 130), "姓名"), Item((260, 100, 400, 130), "张三"), Item((100, 160, 200, 190), "电话")]
    assert [i.value for i in order(items)] == ["姓名", "张三", "电话"]


def test_a_grid_the_layout_model_does_not_see_and_a_figure_full_of_text_are_read_as_text(tmp_path):
    """The tables feature, finding no table region, may take a page of two columns for one grid;
    the layout model may take a page of vertical columns for a picture. Both are text."""
    lines = [line(f"左栏{n}", 80, 250 + 45 * n, 380) for n in range(3)] + [
        line(f"右栏{n}", 540, 250 + 45 * n, 380) for n in range(3)
    ]
    grid = {"box": [[0, 0], [1000, 0], [1000, 1400], [0, 1400]], "html": "<table><tr><td>x</td></tr></table>"}
    paragraphs = [region("text", 0, 0, 500, 1400), region("text", 500, 0, 500, 1400)]
    text = markdown([page(1, lines, paragraphs, [grid])], tmp_path)
    assert "<table>" not in text and "左栏0左栏1左栏2" in text and "右栏0右栏1右栏2" in text
    # A table alone (a crop: no table region, no text region either) stays a table; so does a
    # table not the whole page, whatever the layout model calls its place.
    assert "<table>" in markdown([page(1, lines, [], [grid])], tmp_path)
    part = {"box": [[70, 240], [930, 240], [930, 390], [70, 390]], "html": grid["html"]}
    assert "<table>" in markdown([page(1, lines, [region("reference", 70, 240, 860, 150)], [part])], tmp_path)
    columns = [line(t, 800 - 70 * n, 200, 40, 500) for n, t in enumerate(["床前明月光", "疑是地上霜"])]
    text = markdown([page(1, columns, [region("figure", 600, 150, 300, 600)])], tmp_path)
    assert "<figure>" not in text and "床前明月光疑是地上霜" in text
