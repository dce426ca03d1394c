"""Render the recogniser's int8 calibration strips (run by hand; the PNG is committed).

    apt-get install fonts-noto-cjk && python -m inference.runtime.calibration.render

Quantizing the recogniser to int8 needs example inputs to measure the range of every
activation. They must look like what the engine feeds it: single text lines, 48 px high, in
the fonts, sizes, colours and noise of forms, receipts, signs and plates. Everything here is
drawn from a font, so the sheet carries no third-party image licence (the evaluation data in
../shared/eval must never be copied into the repository).
"""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ...text.recognize import HEIGHT

# The sheet's layout is read back by quantize.calibration_batches: one place for it.
from ..quantize import CALIBRATION_SHEET as SHEET
from ..quantize import STRIP_WIDTH as WIDTH

COUNT = 64
FONTS = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc", 2),
]
LINES = [
    "姓名：张伟",
    "性别：男",
    "出生日期：1990年5月12日",
    "身份证号码：110105199005120036",
    "联系电话：138-0013-8000",
    "工作单位：杭州市西湖区人民医院",
    "申请日期：2026年3月8日",
    "以上信息真实有效，如有虚假愿承担法律责任。",
    "备注：无",
    "□同意 ☑不同意",
    "（一）基本情况",
    "合计金额：¥1,280.50",
    "发票代码：033002100611",
    "收款人：李娜  复核：王强",
    "数量 单价 金额",
    "营业时间 09:00-22:00",
    "欢迎光临",
    "禁止吸烟",
    "出口 EXIT",
    "地铁2号线 人民广场站",
    "中国农业银行 Agricultural Bank of China",
    "停车场入口",
    "皖A·05279",
    "粤B·7K2M9",
    "沪C·3F8Q1",
    "第3条 甲方应于每月5日前支付租金。",
    "单位：万元",
    "2025年度财务报告",
    "附件：1.申请表 2.承诺书",
    "邮编 310012",
    "Email: service@example.com",
    "www.example.cn",
    "Tel: +86 21 6888 1234",
    "请在此处签字",
    "审批意见：同意",
    "经办人签章",
    "联系地址：上海市浦东新区世纪大道100号",
    "项目名称",
    "负责人",
    "开户银行及账号",
    "注册资本（万元）",
    "统一社会信用代码",
    "1、2、3、4、5",
    "ABCDEFGHIJKLMN",
    "0123456789",
    "（盖章）",
    "年 月 日",
    "★★★★☆",
    "特价 ￥9.9",
    "新鲜水果",
    "药品名称：阿莫西林胶囊",
    "用法用量：口服，一次2粒，一日3次",
]
# (text, background) colours: dark on light most often, as in documents; then signs and plates.
PALETTES = [
    ((20, 20, 20), (255, 255, 255)),
    ((40, 40, 40), (235, 232, 220)),
    ((0, 0, 0), (200, 200, 200)),
    ((30, 30, 120), (250, 250, 250)),
    ((200, 30, 30), (255, 255, 255)),
    ((250, 250, 250), (30, 60, 170)),
    ((255, 255, 255), (200, 20, 20)),
    ((20, 20, 20), (240, 200, 40)),
    ((250, 250, 250), (30, 120, 60)),
    ((230, 230, 230), (40, 40, 40)),
]


def render_strip(rng: random.Random) -> Image.Image:
    path, index = rng.choice(FONTS)
    size = rng.choice([18, 24, 32, 40, 56])
    font = ImageFont.truetype(path, size, index=index)
    fg, bg = rng.choice(PALETTES)
    text = rng.choice(LINES)
    margin = max(2, int(size * rng.uniform(0.1, 0.4)))
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("RGB", (int(right - left) + 2 * margin, int(bottom - top) + 2 * margin), bg)
    ImageDraw.Draw(image).text((margin - left, margin - top), text, font=font, fill=fg)
    if rng.random() < 0.3:
        image = image.rotate(rng.uniform(-2, 2), resample=Image.Resampling.BICUBIC, fillcolor=bg)
    if rng.random() < 0.4:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    # Lines longer than a tile are cut, not squeezed: the recogniser never sees squeezed text.
    image = image.resize((max(1, round(image.width * HEIGHT / image.height)), HEIGHT), Image.Resampling.BILINEAR)
    image = image.crop((0, 0, min(WIDTH, image.width), HEIGHT))
    pixels = np.asarray(image, np.float32)  # sensor noise on some strips
    pixels += np.random.default_rng(rng.randrange(1 << 30)).normal(0, rng.choice([0, 0, 0, 3]), pixels.shape)
    tile = Image.new("RGB", (WIDTH, HEIGHT), bg)
    tile.paste(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), (0, 0))
    return tile


def main() -> None:
    rng = random.Random(20261121)
    sheet = Image.new("RGB", (WIDTH, HEIGHT * COUNT))
    for i in range(COUNT):
        sheet.paste(render_strip(rng), (0, i * HEIGHT))
    # Stored in grey: the engine reads every strip in grey except those whose text differs from
    # its background in hue alone (recognize.grey_unless_hue_only), which no palette here does.
    sheet.convert("L").save(SHEET, optimize=True)
    print(f"wrote {SHEET} ({SHEET.stat().st_size // 1024} KB, {COUNT} strips)")


if __name__ == "__main__":
    main()
