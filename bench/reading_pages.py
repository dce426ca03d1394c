"""Pages of known reading order, rendered at run time, read as a job with markdown through the local
stack (`python -m bench.outputs --reading`, which hands it its way of submitting a job): the normalised edit distance of each Markdown's text
(its markup taken away) to the text in the order a reader reads it.

- two columns under a title spanning both; three columns under a title;
- vertical text: columns read right to left, a title in the first (rightmost) column, larger;
- a three-page report with a running header, a running footer and page numbers, which the
  Markdown must leave out (they are not in the truth).

The words are XFUND's line texts (../shared/eval/xfund_zh, read at run time, never kept),
joined into paragraphs; Noto Sans CJK draws them (Debian's fonts-noto-cjk).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bench import metrics
from bench.stack import LocalStack

ROOT = Path(__file__).resolve().parent.parent
XFUND = ROOT.parent / "shared" / "eval" / "xfund_zh"
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
WIDTH, HEIGHT = 1240, 1754  # A4 at 150 dpi
MARGIN = 90


def sentences() -> list[str]:
    """Chinese line texts of XFUND of 8 characters or more, in order."""
    found = []
    for raw in (XFUND / "pages.jsonl").read_text(encoding="utf-8").splitlines():
        for line in json.loads(raw)["lines"]:
            text = "".join(line["text"].split())
            if len(text) >= 8 and sum("\u4e00" <= c <= "\u9fff" for c in text) >= 0.7 * len(text):
                found.append(text)
    return found


class Words:
    def __init__(self) -> None:
        self.pool = sentences()
        self.at = 0

    def paragraph(self, chars: int) -> str:
        out = ""
        while len(out) < chars:
            out += self.pool[self.at % len(self.pool)] + "。"
            self.at += 1
        return out


def _wrap(text: str, font, width: float) -> list[str]:
    lines, line = [], ""
    for char in text:
        if font.getlength(line + char) > width:
            lines.append(line)
            line = ""
        line += char
    return lines + ([line] if line else [])


def columns_page(
    words: Words, count: int, title: str, size: int = 26, header: str = "", footer: str = ""
) -> tuple[Image.Image, str]:
    """A title over `count` columns of paragraphs; the truth: title, then each column top to bottom."""
    page = Image.new("L", (WIDTH, HEIGHT), 255)
    draw = ImageDraw.Draw(page)
    font, big, small = (ImageFont.truetype(FONT, s) for s in (size, int(size * 1.8), int(size * 0.8)))
    if header:
        draw.text((MARGIN, 40), header, font=small, fill=0)
    if footer:
        draw.text((WIDTH / 2 - small.getlength(footer) / 2, HEIGHT - 70), footer, font=small, fill=0)
    draw.text(((WIDTH - big.getlength(title)) / 2, 130), title, font=big, fill=0)
    truth = title
    gutter = 50
    column_w = (WIDTH - 2 * MARGIN - gutter * (count - 1)) / count
    for column in range(count):
        x, y = MARGIN + column * (column_w + gutter), 260
        while y < HEIGHT - 200:
            for line in _wrap(words.paragraph(60 + 20 * column), font, column_w):
                if y > HEIGHT - 160:
                    break
                draw.text((x, y), line, font=font, fill=0)
                truth += line
                y += int(size * 1.55)
            y += int(size * 1.2)  # a paragraph's space
    return page, truth


def vertical_page(words: Words, title: str, size: int = 30) -> tuple[Image.Image, str]:
    """Columns of characters top to bottom, read right to left; the title the first column."""
    page = Image.new("L", (WIDTH, HEIGHT), 255)
    draw = ImageDraw.Draw(page)
    font, big = ImageFont.truetype(FONT, size), ImageFont.truetype(FONT, int(size * 1.5))
    step = int(size * 1.15)
    per_column = (HEIGHT - 2 * 120) // step
    x = WIDTH - MARGIN - int(size * 1.5)
    for n, char in enumerate(title):
        draw.text((x, 120 + n * int(size * 1.6)), char, font=big, fill=0)
    truth = title
    x -= int(size * 2.6)
    text = words.paragraph(per_column * 30)
    while x > MARGIN:
        column, text = text[:per_column], text[per_column:]
        for n, char in enumerate(column):
            draw.text((x, 120 + n * step), char, font=font, fill=0)
        truth += column
        x -= int(size * 1.9)
    return page, truth


def markdown_text(markdown: str) -> str:
    """What a reader reads of the Markdown: no comments, heading marks, escapes or tags."""
    text = re.sub(r"<!--.*?-->", "", markdown, flags=re.S)
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"^#+ ", "", text, flags=re.M)
    return text.replace("\\", "")


def distance(got: str, want: str) -> float:
    got, want = metrics.normalise(got), metrics.normalise(want)
    return metrics.edit_distance(got, want) / max(len(want), len(got), 1)


def reading(submit_with_cli: Callable[..., dict]) -> int:
    """`submit_with_cli(stack, source, out, flags)`: bench/outputs.py's, the job as a user runs it."""
    words = Words()
    folder = Path(tempfile.mkdtemp(prefix="bench-reading-"))
    inputs = folder / "input"
    inputs.mkdir()
    truths: dict[str, str] = {}
    for name, (picture, truth) in {
        "two-columns": columns_page(words, 2, "第一章 纾困申请的说明"),
        "three-columns": columns_page(words, 3, "物业地址与申请人信息"),
        "vertical": vertical_page(words, "申请须知"),
    }.items():
        picture.save(inputs / f"{name}.png", dpi=(150, 150))
        truths[f"{name}.png"] = truth
    report, truth = [], ""
    for n in range(1, 4):
        picture, text = columns_page(
            words, 1, f"第{n}节 年度报告", header="某某市政府 2026年度报告", footer=f"第 {n} 页"
        )
        report.append(picture)
        truth += text
    report[0].save(inputs / "report.pdf", "PDF", save_all=True, append_images=report[1:], resolution=150)
    truths["report.pdf"] = truth
    out = folder / "out"
    with LocalStack(("--jobs-input", str(inputs), "--jobs-data", str(folder / "data"))) as stack:
        state = submit_with_cli(stack, inputs, out, ["--markdown"])
    print(f"\nreading order of rendered pages, a job with markdown ({state['status']})\n")
    print("| document | characters | normalised edit distance |\n|---|---|---|")
    worst = 0.0
    for name, truth in truths.items():
        got = markdown_text((out / f"{name}.md").read_text(encoding="utf-8"))
        d = distance(got, truth)
        worst = max(worst, d)
        print(f"| {name} | {len(metrics.normalise(truth))} | {d:.4f} |")
    return 0 if worst <= 0.05 else 1
