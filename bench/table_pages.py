"""Pages with ruled Chinese tables, drawn when asked (Pillow and Noto Sans CJK, as fonts-noto-cjk
installs it), with what they hold: tests/test_tables.py and `make bench-tables` read them.

    ruled_statement(rows)  a bank statement on an A4-like page: a title and a paragraph above the
                           table, a note below; the table ruled on every side: a title row across
                           all six columns, a header row, `rows` transactions (every fifth payee
                           wraps over two lines in its cell), a total row whose label spans three
                           columns
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
PAYEES = ["美团外卖", "国家电网", "中国移动", "滴滴出行", "星巴克咖啡", "房屋租金", "工资代发"]
LONG_PAYEES = [("北京京东世纪贸易", "有限公司"), ("上海盒马网络科技", "有限公司"), ("中国石化销售股份", "有限公司")]
KINDS = ["消费", "转账", "还款", "缴费"]
HEADER = ["交易日期", "摘要", "对方户名", "支出", "存入", "余额"]
WIDTHS = [170, 110, 250, 150, 150, 170]


@dataclass
class DrawnTable:
    """What a drawn table holds: its outer rules' box, its size, and each cell's (row, column)
    -> (row span, column span, text as it reads)."""

    box: tuple[int, int, int, int]
    rows: int
    columns: int
    cells: dict[tuple[int, int], tuple[int, int, str]] = field(default_factory=dict)

    def html(self) -> str:
        """The table as HTML, its cells' text in them."""
        from .ctdar import grid_html

        cells = [(r, c, rs, cs, text) for (r, c), (rs, cs, text) in self.cells.items()]
        return grid_html(cells, self.rows, self.columns)


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT), size, index=0)


def ruled_statement(rows: int = 40, seed: int = 1) -> tuple[np.ndarray, DrawnTable]:
    """A page (BGR) with a ruled bank statement of `rows` transactions, and the table drawn."""
    rng = random.Random(seed)
    size, row_h, pad = 20, 34, 10
    left, top = 90, 230
    width = 1240
    body: list[list[str | tuple[str, str]]] = []
    balance = 52_000.0
    spent = received = 0.0
    for n in range(rows):
        out = rng.random() < 0.7
        amount = rng.uniform(20, 3000)
        balance += -amount if out else amount
        spent += amount if out else 0.0
        received += 0.0 if out else amount
        payee: str | tuple[str, str] = LONG_PAYEES[n // 5 % 3] if n % 5 == 4 else rng.choice(PAYEES)
        body.append(
            [
                f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                rng.choice(KINDS),
                payee,
                f"{amount:,.2f}" if out else "",
                "" if out else f"{amount:,.2f}",
                f"{balance:,.2f}",
            ]
        )
    heights = [row_h, row_h] + [2 * row_h - 8 if isinstance(r[2], tuple) else row_h for r in body] + [row_h]
    height = top + sum(heights) + 200
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    font = _font(size)
    draw.text((left, 90), "2025年 个人账户交易明细对账单", font=_font(30), fill=0)
    draw.text((left, 150), "以下为本期全部交易记录，如有疑问请在三十日内联系开户行。", font=font, fill=20)
    xs = [left]
    for w in WIDTHS:
        xs.append(xs[-1] + w)
    ys = [top]
    for h in heights:
        ys.append(ys[-1] + h)
    table = DrawnTable((xs[0], ys[0], xs[-1], ys[-1]), len(heights), len(WIDTHS))

    def put(row: int, column: int, text: str | tuple[str, str], col_span: int = 1, right: bool = False) -> None:
        x0, x1 = xs[column], xs[column + col_span]
        y0, y1 = ys[row], ys[row + 1]
        parts = list(text) if isinstance(text, tuple) else [text]
        line_h = size + 6
        y = (y0 + y1) / 2 - line_h * len(parts) / 2 + 2
        for part in parts:
            w = draw.textlength(part, font=font)
            x = x1 - pad - w if right else x0 + pad
            draw.text((x, y), part, font=font, fill=0)
            y += line_h
        table.cells[(row, column)] = (1, col_span, "".join(parts))

    put(0, 0, "2025年10月 账户交易明细", col_span=6)
    for c, name in enumerate(HEADER):
        put(1, c, name)
    for r, values in enumerate(body, start=2):
        for c, value in enumerate(values):
            if value:
                put(r, c, value, right=c >= 3)
            else:
                table.cells[(r, c)] = (1, 1, "")
    last = len(heights) - 1
    put(last, 0, "本期合计", col_span=3)
    put(last, 3, f"{spent:,.2f}", right=True)
    put(last, 4, f"{received:,.2f}", right=True)
    put(last, 5, f"{balance:,.2f}", right=True)
    # Rules: every row border across the table; column borders except inside the merged cells.
    for y in ys:
        draw.line([(xs[0], y), (xs[-1], y)], fill=0, width=2)
    for c, x in enumerate(xs):
        for r in range(len(heights)):
            merged = (r == 0 and 0 < c < 6) or (r == last and c in (1, 2))
            if not merged:
                draw.line([(x, ys[r]), (x, ys[r + 1])], fill=0, width=2)
    draw.text((left, ys[-1] + 40), "注：本对账单仅供参考，以银行系统记录为准。", font=font, fill=20)
    return np.stack([np.asarray(page)] * 3, axis=2).copy(), table
