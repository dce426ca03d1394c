"""Chinese tables for the tables bench and tests, made at bench time: HTML tables with Chinese
content (invoices, bank statements, price lists; ruled, three-line and borderless; merged
cells; long cells that wrap) rendered by headless Chromium to PNG, and photo-like variants of
each (slight perspective, blur, uneven light, JPEG). The HTML is the ground truth.

    python -m bench.table_images OUT_DIR [--count 12] [--seed 7]
"""

from __future__ import annotations

import argparse
import html
import json
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CHROMIUM = "/usr/bin/chromium"
STYLES = ("ruled", "three-line", "borderless")
KINDS = ("invoice", "statement", "prices")

GOODS = [
    "办公用纸",
    "打印机硒鼓",
    "中性笔",
    "文件夹",
    "订书机",
    "笔记本电脑",
    "显示器",
    "无线鼠标",
    "机械键盘",
    "移动硬盘",
    "路由器",
    "投影仪",
    "会议桌",
    "办公椅",
    "饮水机",
    "空气净化器",
    "碎纸机",
    "扫描仪",
    "标签打印机",
    "白板",
]
UNITS = ["箱", "个", "支", "台", "套", "把", "盒", "件"]
PAYEES = [
    "北京京东世纪贸易有限公司",
    "上海盒马网络科技有限公司",
    "中国移动通信集团",
    "国家电网有限公司",
    "滴滴出行科技有限公司",
    "美团外卖",
    "招商银行信用卡还款",
    "支付宝转账",
    "工资代发",
    "房屋租金",
    "中国石化加油站",
    "星巴克咖啡",
]
NOTES = [
    "含税价，运费另计",
    "节假日不发货，请提前预订",
    "整箱购买可享九五折优惠",
    "质保一年，非人为损坏免费维修",
    "此价格仅限本月有效，逾期以新价格为准",
    "需开具增值税专用发票的请注明",
]
REGIONS = ["华北区", "华东区", "华南区", "西南区"]


@dataclass
class Cell:
    text: str
    rowspan: int = 1
    colspan: int = 1
    header: bool = False
    wide: bool = False  # a long text in a narrow column: wraps over lines


def _money(rng: random.Random, low: float, high: float) -> str:
    return f"{rng.uniform(low, high):,.2f}"


def _invoice(rng: random.Random) -> list[list[Cell]]:
    rows = [[Cell(t, header=True) for t in ("序号", "货物或应税劳务名称", "规格型号", "单位", "数量", "单价", "金额")]]
    total = 0.0
    for i in range(rng.randint(3, 6)):
        qty, price = rng.randint(1, 50), rng.uniform(5, 900)
        total += qty * price
        rows.append(
            [
                Cell(str(i + 1)),
                Cell(rng.choice(GOODS)),
                Cell(rng.choice(["A4", "黑色", "标准型", "27英寸", "2TB", "-"])),
                Cell(rng.choice(UNITS)),
                Cell(str(qty)),
                Cell(f"{price:.2f}"),
                Cell(f"{qty * price:,.2f}"),
            ]
        )
    rows.append([Cell("合计", colspan=6), Cell(f"{total:,.2f}")])
    rows.append([Cell("备注", colspan=2), Cell(rng.choice(NOTES), colspan=5, wide=True)])
    return rows


def _statement(rng: random.Random) -> list[list[Cell]]:
    rows = [[Cell(t, header=True) for t in ("交易日期", "摘要", "对方户名", "支出", "存入", "余额")]]
    balance = rng.uniform(5000, 80000)
    for _ in range(rng.randint(4, 7)):
        out = rng.random() < 0.7
        amount = rng.uniform(20, 5000)
        balance += -amount if out else amount
        rows.append(
            [
                Cell(f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"),
                Cell(rng.choice(["消费", "转账", "代发工资", "还款", "缴费"])),
                Cell(rng.choice(PAYEES), wide=rng.random() < 0.4),
                Cell(f"{amount:,.2f}" if out else ""),
                Cell("" if out else f"{amount:,.2f}"),
                Cell(f"{balance:,.2f}"),
            ]
        )
    return rows


def _prices(rng: random.Random) -> list[list[Cell]]:
    rows = [
        [
            Cell("地区", rowspan=2, header=True),
            Cell("商品", rowspan=2, header=True),
            Cell("价格（元）", colspan=2, header=True),
            Cell("说明", rowspan=2, header=True),
        ],
        [Cell("零售", header=True), Cell("批发", header=True)],
    ]
    for region in rng.sample(REGIONS, 2):
        goods = rng.sample(GOODS, rng.randint(2, 3))
        for j, item in enumerate(goods):
            retail = rng.uniform(10, 3000)
            row = [] if j else [Cell(region, rowspan=len(goods))]
            row += [
                Cell(item),
                Cell(f"{retail:.2f}"),
                Cell(f"{retail * 0.85:.2f}"),
                Cell(rng.choice(NOTES) if rng.random() < 0.5 else "现货", wide=True),
            ]
            rows.append(row)
    return rows


MAKERS = {"invoice": _invoice, "statement": _statement, "prices": _prices}


def truth_html(rows: list[list[Cell]]) -> str:
    """The ground truth: <html><body><table><tr><td ...>text</td>...</tr></table></body></html>."""
    out = ["<html><body><table>"]
    for row in rows:
        out.append("<tr>")
        for cell in row:
            spans = (f' rowspan="{cell.rowspan}"' if cell.rowspan > 1 else "") + (
                f' colspan="{cell.colspan}"' if cell.colspan > 1 else ""
            )
            out.append(f"<td{spans}>{html.escape(cell.text, quote=False)}</td>")
        out.append("</tr>")
    out.append("</table></body></html>")
    return "".join(out)


CSS = {
    "ruled": "table{border-collapse:collapse} td{border:1.5px solid #222}",
    "three-line": "table{border-collapse:collapse;border-top:2px solid #000;border-bottom:2px solid #000}"
    " tr.head td{border-bottom:1px solid #000}",
    "borderless": "table{border-collapse:separate;border-spacing:18px 4px}",
}


def page_html(rows: list[list[Cell]], style: str, rng: random.Random) -> str:
    font = rng.choice(["Noto Sans CJK SC", "Noto Serif CJK SC"])
    size = rng.choice([15, 16, 18])
    body = []
    for row in rows:
        head = all(cell.header for cell in row)
        body.append(f'<tr class="{"head" if head else ""}">')
        for cell in row:
            spans = (f' rowspan="{cell.rowspan}"' if cell.rowspan > 1 else "") + (
                f' colspan="{cell.colspan}"' if cell.colspan > 1 else ""
            )
            css = "max-width:7.5em" if cell.wide else "white-space:nowrap"
            weight = ";font-weight:bold" if cell.header else ""
            body.append(f'<td{spans} style="{css}{weight}">{html.escape(cell.text)}</td>')
        body.append("</tr>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><style>"
        f"body{{margin:24px;background:#fff;font-family:'{font}';font-size:{size}px;color:#111}}"
        "td{padding:6px 10px;text-align:left;vertical-align:middle}"
        f"{CSS[style]}</style></head><body><table>{''.join(body)}</table></body></html>"
    )


def render(page: str, out: Path, width: int = 1200, height: int = 1000) -> None:
    """Headless Chromium's screenshot of the page, cropped to its content with a margin."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "page.html"
        source.write_text(page, encoding="utf-8")
        shot = Path(tmp) / "shot.png"
        subprocess.run(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp}/profile",
                "--hide-scrollbars", f"--window-size={width},{height}", f"--screenshot={shot}", source.as_uri(),
            ],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        image = cv2.imread(str(shot))
    assert image is not None, f"Chromium wrote no screenshot for {out.name}"
    ink = np.argwhere(image.min(axis=2) < 200)
    (y0, x0), (y1, x1) = ink.min(axis=0), ink.max(axis=0)
    m = 16
    crop = image[max(0, y0 - m) : y1 + m, max(0, x0 - m) : x1 + m]
    cv2.imwrite(str(out), crop)


def photo_like(image: np.ndarray, rng: random.Random) -> np.ndarray:
    """A photo of the page: slight perspective, soft focus, uneven light, JPEG."""
    h, w = image.shape[:2]
    pad = 30
    image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    h, w = image.shape[:2]
    jitter = 0.025
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    dst = src + np.array(
        [[rng.uniform(-jitter, jitter) * w, rng.uniform(-jitter, jitter) * h] for _ in range(4)], np.float32
    )
    matrix = cv2.getPerspectiveTransform(src, dst)
    image = cv2.warpPerspective(image, matrix, (w, h), borderValue=(235, 235, 235))
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.6, 1.1))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 0.8 + 0.2 * (xx / w if rng.random() < 0.5 else yy / h)
    tint = np.array([rng.uniform(0.9, 1.0), rng.uniform(0.95, 1.0), 1.0], np.float32)
    image = np.clip(image.astype(np.float32) * light[..., None] * tint + rng.uniform(-8, 8), 0, 255).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(55, 80)])
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert decoded is not None
    return decoded


def generate(out_dir: Path, count: int = 12, seed: int = 7) -> list[dict]:
    """`count` tables, each plain (PNG) and photo-like (JPEG); writes manifest.jsonl and answers
    its records: {image, html, kind, style, variant}."""
    if shutil.which(CHROMIUM) is None:
        raise RuntimeError(f"{CHROMIUM} is needed to render the Chinese tables")
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for n in range(count):
        kind, style = KINDS[n % len(KINDS)], STYLES[(n // len(KINDS)) % len(STYLES)]
        rows = MAKERS[kind](rng)
        plain = out_dir / f"zh_{n:02d}_{kind}_{style}.png"
        render(page_html(rows, style, rng), plain)
        photo = plain.with_name(plain.stem + "_photo.jpg")
        image = cv2.imread(str(plain))
        assert image is not None
        cv2.imwrite(str(photo), photo_like(image, rng))
        for variant, path in (("plain", plain), ("photo", photo)):
            records.append(
                {"image": path.name, "html": truth_html(rows), "kind": kind, "style": style, "variant": variant}
            )
    with open(out_dir / "manifest.jsonl", "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    records = generate(args.out_dir, args.count, args.seed)
    print(f"{len(records)} images in {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
