"""The depth map as a picture: one fixed colour per depth, and a legend in the PNG.

Depth d (images covering a pixel) always has the colour ``PALETTE[d - 1]``,
whatever the mosaic, so two mosaics' maps can be compared by eye; depths of
``len(PALETTE)`` or more share the last colour. Pixels no image covers are
white. The legend under the map lists the depths present. Drawn with Pillow
(which matplotlib brings; importing matplotlib would cost a quality job ~1 s).
"""

import numpy as np

from ..files import atomic

# Depth 1, 2, ...: light to dark, each step a clear change of hue or lightness
# (yellow, orange, reds, purples, blues, black), so that the common low depths differ most.
PALETTE = (
    (255, 237, 160),
    (254, 178, 76),
    (240, 59, 32),
    (189, 0, 38),
    (128, 0, 38),
    (122, 1, 119),
    (73, 0, 106),
    (37, 52, 148),
    (8, 29, 88),
    (0, 0, 0),
)
UNCOVERED = (255, 255, 255)
INK = (40, 40, 40)


def colour(depth):
    """The RGB colour of ``depth`` images (0: not covered)."""
    if depth < 1:
        return UNCOVERED
    return PALETTE[min(int(depth), len(PALETTE)) - 1]


def colourise(depth):
    """RGB uint8 image (rows as given) of a 2-D depth array; NaN and values below 0.5 are uncovered."""
    depth = np.asarray(depth, dtype=float)
    with np.errstate(invalid="ignore"):
        index = np.where(np.isfinite(depth), np.rint(depth), 0).clip(0, len(PALETTE)).astype(np.int64)
    table = np.array([UNCOVERED, *PALETTE], dtype=np.uint8)
    return table[index]


def legend_entries(max_depth):
    """(label, colour) of the legend: not covered, then each depth up to ``max_depth``."""
    entries = [("not covered", UNCOVERED)]
    for depth in range(1, min(max(int(max_depth), 1), len(PALETTE)) + 1):
        label = f"{depth}+" if depth == len(PALETTE) else str(depth)
        entries.append((label, colour(depth)))
    return entries


def render(depth, max_depth):
    """A PIL image: the depth map (first FITS row at the bottom) with its legend underneath."""
    from PIL import Image, ImageDraw, ImageFont

    rgb = colourise(depth)[::-1]  # FITS rows go up, image rows go down
    height, width = rgb.shape[:2]
    size = max(12, min(28, width // 40))
    font = ImageFont.load_default(size=size)
    entries = legend_entries(max_depth)
    title = "images per pixel:"
    box, gap = size, size // 2
    widths = [font.getlength(label) for label, _ in entries]
    needed = font.getlength(title) + gap + sum(box + gap // 2 + w + gap for w in widths)
    canvas_width = max(width, int(needed) + 2 * gap)
    strip = 2 * size
    image = Image.new("RGB", (canvas_width, height + strip), (255, 255, 255))
    image.paste(Image.fromarray(np.ascontiguousarray(rgb), "RGB"), (0, 0))
    draw = ImageDraw.Draw(image)
    x, top = gap, height + (strip - box) // 2
    draw.text((x, top + box / 2), title, fill=INK, font=font, anchor="lm")
    x += font.getlength(title) + gap
    for (label, fill), text_width in zip(entries, widths, strict=True):
        draw.rectangle((x, top, x + box, top + box), fill=fill, outline=INK)
        x += box + gap // 2
        draw.text((x, top + box / 2), label, fill=INK, font=font, anchor="lm")
        x += text_width + gap
    return image


def write_png(depth, png, max_depth):
    """Write ``render(depth, max_depth)`` to ``png`` atomically."""
    image = render(depth, max_depth)
    temp = atomic.temp_path_for(png, suffix=".png")
    image.save(temp, format="PNG", optimize=False)
    atomic.commit(temp, png)
    return image.size
