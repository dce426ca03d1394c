"""PDFs made at test time, as scanners and office software write them (no blobs in the repository).

- scanned_pdf: each page one picture covering the page, its bytes embedded as they are (a JPEG
  as DCTDecode, a bilevel scan as CCITT Group 4), at a declared resolution, as a scanner writes;
  optionally with an invisible text layer over it (an earlier OCR's, right or wrong);
- text_pdf: born-digital pages by fpdf2 with an embedded CJK font (Noto Sans CJK, from Debian's
  fonts-noto-cjk): body text 6-12 pt, a table and two columns;
- chromium_pdf: the same kind of page printed to PDF by headless Chromium;
- without_tounicode: a PDF's ToUnicode maps taken away (a CJK font whose characters cannot be
  mapped back to text, as some producers write them).

Used by the tests (tests/test_text_layer.py, tests/test_documents.py, tests/test_jobs_e2e.py) and
the bench (bench/documents.py).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
CHROMIUM = "/usr/bin/chromium"


# -- a minimal PDF writer: objects in order, a cross-reference table, nothing compressed but streams


class _Writer:
    def __init__(self) -> None:
        self.objects: list[bytes] = []

    def add(self, body: bytes) -> int:
        self.objects.append(body)
        return len(self.objects)

    def reserve(self) -> int:
        return self.add(b"")

    def set(self, number: int, body: bytes) -> None:
        self.objects[number - 1] = body

    @staticmethod
    def stream(dictionary: bytes, data: bytes) -> bytes:
        return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"

    def output(self, root: int) -> bytes:
        out = io.BytesIO()
        out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(self.objects, 1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(self.objects) + 1))
        for offset in offsets:
            out.write(b"%010d 00000 n \n" % offset)
        out.write(
            b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(self.objects) + 1, root, xref)
        )
        return out.getvalue()


@dataclass
class InvisibleLine:
    """A line of an invisible text layer: its text and its box in the picture's pixels."""

    text: str
    left: float
    top: float
    width: float
    height: float


@dataclass
class ScanPage:
    """One scanned page: a JPEG's bytes (embedded as they are) or a bilevel picture (Group 4)."""

    data: bytes = b""
    picture: object = None  # a PIL image of mode "1", written as CCITT Group 4
    dpi: float = 200.0
    rotate: int = 0  # the page's /Rotate
    invisible: list[InvisibleLine] = field(default_factory=list)


def g4_strip(picture) -> tuple[bytes, int, int]:
    """A bilevel picture as one CCITT Group 4 strip (libtiff through Pillow), with its size."""
    out = io.BytesIO()
    picture.save(out, "TIFF", compression="group4", tiffinfo={278: picture.height})
    from PIL import Image
    from PIL.TiffImagePlugin import TiffImageFile

    tiff = Image.open(io.BytesIO(out.getvalue()), formats=["TIFF"])
    assert isinstance(tiff, TiffImageFile)
    offsets, counts = tiff.tag_v2[273], tiff.tag_v2[279]
    assert len(offsets) == 1, "one strip expected"
    raw = out.getvalue()[offsets[0] : offsets[0] + counts[0]]
    return raw, picture.width, picture.height


def _jpeg_size(data: bytes) -> tuple[int, int, int]:
    from PIL import Image

    picture = Image.open(io.BytesIO(data))
    return picture.width, picture.height, len(picture.getbands())


def _utf16_hex(text: str) -> bytes:
    return b"<" + text.encode("utf-16-be").hex().upper().encode() + b">"


def scanned_pdf(pages: list[ScanPage]) -> bytes:
    """A PDF of scanned pages: each page exactly the size of its picture at its dpi, the picture
    drawn over the whole page; invisible text (render mode 3, a standard CJK font with UCS-2
    encoding, as OCR software writes it) where a page has some."""
    writer = _Writer()
    catalog, tree = writer.reserve(), writer.reserve()
    font = None
    kids = []
    for page in pages:
        if page.picture is not None:
            data, width, height = g4_strip(page.picture)
            image = writer.add(
                writer.stream(
                    b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                    b"/BitsPerComponent 1 /Filter /CCITTFaxDecode "
                    b"/DecodeParms << /K -1 /Columns %d /Rows %d /BlackIs1 true >>" % (width, height, width, height),
                    data,
                )
            )
        else:
            width, height, bands = _jpeg_size(page.data)
            space = b"/DeviceRGB" if bands == 3 else b"/DeviceGray"
            image = writer.add(
                writer.stream(
                    b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace %s /BitsPerComponent 8 "
                    b"/Filter /DCTDecode" % (width, height, space),
                    page.data,
                )
            )
        w_pt, h_pt = width * 72 / page.dpi, height * 72 / page.dpi
        content = b"q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q\n" % (w_pt, h_pt)
        resources = b"/XObject << /Im0 %d 0 R >>" % image
        if page.invisible:
            if font is None:
                descendant = writer.add(
                    b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
                    b"/CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 4 >> "
                    b"/FontDescriptor << /Type /FontDescriptor /FontName /STSong-Light /Flags 6 "
                    b"/FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 "
                    b"/StemV 93 >> /DW 1000 >>"
                )
                font = writer.add(
                    b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light-UniGB-UCS2-H "
                    b"/Encoding /UniGB-UCS2-H /DescendantFonts [%d 0 R] >>" % descendant
                )
            scale = 72 / page.dpi
            text = [b"BT 3 Tr"]
            for line in page.invisible:
                size = line.height * scale * 0.9
                natural = max(1e-3, size * len(line.text))  # every character 1 em wide
                stretch = 100 * line.width * scale / natural
                x, y = line.left * scale, h_pt - (line.top + line.height * 0.85) * scale
                text.append(
                    b"/F0 %.3f Tf %.2f Tz 1 0 0 1 %.3f %.3f Tm %s Tj" % (size, stretch, x, y, _utf16_hex(line.text))
                )
            text.append(b"ET")
            content += b"\n".join(text) + b"\n"
            resources += b" /Font << /F0 %d 0 R >>" % font
        stream = writer.add(writer.stream(b"/Filter /FlateDecode", zlib.compress(content)))
        kids.append(
            writer.add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.4f %.4f] /Rotate %d /Resources << %s >> "
                b"/Contents %d 0 R >>" % (tree, w_pt, h_pt, page.rotate, resources, stream)
            )
        )
    writer.set(tree, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids)))
    writer.set(catalog, b"<< /Type /Catalog /Pages %d 0 R >>" % tree)
    return writer.output(catalog)


# -- born-digital pages

# Sentences of a contract and a report: what the text layer must give back exactly.
PARAGRAPHS = [
    "本合同由甲方北京华信科技有限公司与乙方上海明达贸易有限公司于二〇二四年三月十五日在北京签订。",
    "双方经友好协商，就办公设备采购事宜达成如下协议，以资共同遵守。",
    "第一条：乙方向甲方提供笔记本电脑二十台、激光打印机五台，总价人民币叁拾贰万元整。",
    "第二条：交货地点为甲方指定仓库，乙方负责运输并承担运输途中的一切风险。",
    "第三条：甲方应在收到货物并验收合格后十五个工作日内支付全部货款。",
    "2023年度营业收入为12,345.67万元，同比增长8.9%；净利润为1,234.56万元。",
    "报告期内公司研发投入占营业收入的比例为6.5%，较上年提高0.7个百分点。",
    "联系人：王小明，电话：010-8888 6666，邮箱：wang@example.com。",
]
TABLE = [
    ["序号", "产品名称", "数量", "单价（元）", "金额（元）"],
    ["1", "笔记本电脑", "20", "12,000.00", "240,000.00"],
    ["2", "激光打印机", "5", "8,000.00", "40,000.00"],
    ["3", "网络交换机", "4", "10,000.00", "40,000.00"],
]


TITLE = "办公设备采购合同"


def expected_text() -> str:
    """Every character of a born-digital page (text_pdf, chromium_pdf) in reading order: the
    title, the paragraphs, the table row by row, the two columns one after the other."""
    return TITLE + "".join(PARAGRAPHS[:5]) + "".join("".join(row) for row in TABLE) + "".join(PARAGRAPHS[5:])


def text_pdf(pages: int = 1, sizes: tuple[float, ...] = (6, 8, 10, 12), compress: bool = True) -> bytes:
    """Born-digital pages by fpdf2 with Noto Sans CJK SC embedded (a subset, with its ToUnicode
    map): a title, paragraphs at each of `sizes` (pt), a table, and two columns of text."""
    import logging

    from fpdf import FPDF

    logging.getLogger("fontTools").setLevel(logging.WARNING)  # its subsetter logs every glyph
    pdf = FPDF(format="A4", unit="pt")
    pdf.set_compression(compress)
    pdf.add_font("noto", "", str(CJK_FONT), collection_font_number=2)  # SC
    for _ in range(pages):
        pdf.add_page()
        pdf.set_font("noto", size=14)
        pdf.cell(0, 24, TITLE, new_x="LMARGIN", new_y="NEXT", align="C")
        for n, paragraph in enumerate(PARAGRAPHS[:5]):
            pdf.set_font("noto", size=sizes[n % len(sizes)])
            pdf.multi_cell(0, sizes[n % len(sizes)] * 1.6, paragraph, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(8)
        pdf.set_font("noto", size=9)
        widths = [40, 150, 60, 120, 120]
        for row in TABLE:
            for width, cell in zip(widths, row):
                pdf.cell(width, 18, cell, border=1)
            pdf.ln(18)
        pdf.ln(10)
        top = pdf.get_y()
        column = (pdf.w - 2 * pdf.l_margin - 20) / 2
        for n, paragraph in enumerate(PARAGRAPHS[5:]):
            pdf.set_xy(pdf.l_margin + (n % 2) * (column + 20), top + (n // 2) * 60)
            pdf.set_font("noto", size=(8, 10, 11)[n % 3])
            pdf.multi_cell(column, 16, paragraph)
    return bytes(pdf.output())


HTML = """<!doctype html><html><head><meta charset="utf-8"><style>
@page {{ size: A4; margin: 18mm; }}
body {{ font-family: 'Noto Sans CJK SC'; }}
h1 {{ font-size: 14pt; text-align: center; }}
.s6 {{ font-size: 6pt; }} .s8 {{ font-size: 8pt; }} .s10 {{ font-size: 10pt; }} .s12 {{ font-size: 12pt; }}
table {{ border-collapse: collapse; font-size: 9pt; margin: 10pt 0; }}
td {{ border: 1px solid #000; padding: 2pt 6pt; }}
.cols {{ column-count: 2; column-gap: 24pt; font-size: 10pt; }}
</style></head><body>{pages}</body></html>"""


def _html_page(n: int) -> str:
    sizes = ("s6", "s8", "s10", "s12")
    body = f"<h1>{TITLE}</h1>"
    body += "".join(f'<p class="{sizes[i % 4]}">{p}</p>' for i, p in enumerate(PARAGRAPHS[:5]))
    body += "<table>" + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in TABLE) + "</table>"
    body += '<div class="cols">' + "".join(f"<p>{p}</p>" for p in PARAGRAPHS[5:]) + "</div>"
    return f'<div style="page-break-after: always">{body}</div>' if n else body


def chromium_pdf(pages: int = 1) -> bytes:
    """The same content printed to PDF by headless Chromium (Skia's PDF backend)."""
    if shutil.which(CHROMIUM) is None:
        raise RuntimeError(f"{CHROMIUM} is needed to print a page to PDF")
    html = HTML.format(pages="".join(_html_page(n if n < pages - 1 else 0) for n in range(pages)))
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "page.html", Path(folder) / "page.pdf"
        source.write_text(html, encoding="utf-8")
        subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-pdf-header-footer",
                f"--user-data-dir={folder}/profile",
                f"--print-to-pdf={target}",
                source.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return target.read_bytes()


def without_tounicode(pdf: bytes) -> bytes:
    """The PDF with every /ToUnicode entry renamed (same length, so the cross-reference table
    still holds): its fonts have no ToUnicode map. The PDF's dictionaries must not be in
    compressed object streams (fpdf2 with compression off, Chromium's)."""
    assert b"/ToUnicode" in pdf, "the PDF has no ToUnicode map to take away (or keeps it compressed)"
    return re.sub(rb"/ToUnicode\b", b"/NoUnicode", pdf)


def fonts_available() -> str | None:
    """Why born-digital PDFs cannot be made here (None when they can)."""
    if not CJK_FONT.is_file():
        return f"{CJK_FONT} is missing (Debian's fonts-noto-cjk)"
    try:
        import fpdf  # noqa: F401
    except ImportError:
        return "fpdf2 is not installed (requirements-dev.txt)"
    return None
