"""The quality table of one mosaic as an HTML page for people (the HTML report embeds it).

``page(rows, footprints)`` turns the rows of ``quality.write_quality_report``
into one self-contained HTML document: the headline figures, the files not
used with their reasons, a plot of the background corrections across the
field, the overlaps and the depth histogram. Everything from the data (file
names, Montage's messages) is escaped. Standard library only: it is written by
the quality job, whose cost the default target pays.
"""

import html
import math

CSS = """
body { font-family: system-ui, sans-serif; font-size: 14px; color: #222; margin: 16px; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 24px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eef; } tr:nth-child(even) td { background: #f7f7f7; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
p.note { color: #555; max-width: 60em; }
p.broken { background: #b2182b; color: #fff; padding: 8px 12px; font-weight: bold; max-width: 60em; }
svg text { font-family: system-ui, sans-serif; }
"""
# Per-item tables longer than this are folded (a <details> element) so the page stays short.
FOLD_ABOVE = 20
# The corrections plot's size in CSS pixels.
PLOT_WIDTH, PLOT_HEIGHT = 560, 480
# Diverging colour scale of the corrections: negative blue, zero white, positive red.
NEGATIVE, ZERO, POSITIVE = (33, 102, 172), (247, 247, 247), (178, 24, 43)
# The scale ends at this percentile of the levels' magnitudes, so that one outlying
# image does not wash every other one out to white; the few beyond take the end colours.
CLIP_PERCENTILE = 95


def escape(value):
    return html.escape(str(value), quote=True)


def _is_number(text):
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def table(columns, rows, table_id=None):
    """An HTML table: ``columns`` are (key, heading) pairs, ``rows`` dicts; numbers right-aligned."""
    head = "".join(f"<th>{escape(heading)}</th>" for _, heading in columns)
    body = []
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key, "")
            css = ' class="number"' if _is_number(value) else ""
            cells.append(f"<td{css}>{escape(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    attribute = f' id="{escape(table_id)}"' if table_id else ""
    return f"<table{attribute}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _folded(summary, content, count):
    if count <= FOLD_ABOVE:
        return content
    return f"<details><summary>{escape(summary)} ({count} rows)</summary>{content}</details>"


def _mix(low, high, fraction):
    return tuple(round(a + (b - a) * fraction) for a, b in zip(low, high, strict=True))


def level_colour(level, limit):
    """Hex colour of a correction ``level`` on the scale -limit (blue) .. 0 (white) .. +limit (red)."""
    fraction = 0.0 if not limit or not math.isfinite(level) else max(-1.0, min(1.0, level / limit))
    rgb = _mix(ZERO, POSITIVE, fraction) if fraction >= 0 else _mix(ZERO, NEGATIVE, -fraction)
    return "#" + "".join(f"{channel:02x}" for channel in rgb)


def _number(value):
    return f"{value:.4g}"


def colour_limit(levels):
    """The colour scale's end: the CLIP_PERCENTILE-th percentile (nearest rank) of |level|."""
    magnitudes = sorted(abs(level) for level in levels)
    if not magnitudes:
        return 0.0
    return magnitudes[max(0, math.ceil(CLIP_PERCENTILE / 100 * len(magnitudes)) - 1)]


def corrections_svg(footprints, naxis1, naxis2):
    """An SVG of the field: each image's footprint on the mosaic grid and, at its centre, a
    disc coloured by the correction there (the plane mBackground subtracts), with a colour bar.

    ``footprints``: dicts with ``id``, ``x0``, ``y0``, ``nx``, ``ny`` (mosaic pixels, 0-based,
    y up) and ``centre_level`` (data units).
    """
    scale = min(PLOT_WIDTH / max(naxis1, 1), PLOT_HEIGHT / max(naxis2, 1))
    width, height = naxis1 * scale, naxis2 * scale
    margin, bar = 10, 70
    levels = [f["centre_level"] for f in footprints if math.isfinite(f["centre_level"])]
    limit = colour_limit(levels)
    beyond = sum(abs(level) > limit for level in levels)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="corrections-plot" width="{width + bar + 2 * margin:.0f}" '
        f'height="{height + 2 * margin:.0f}" role="img" aria-label="background corrections across the field">',
        f'<rect x="{margin}" y="{margin}" width="{width:.1f}" height="{height:.1f}" fill="none" stroke="#999"/>',
    ]
    label = len(footprints) <= 60
    for f in footprints:
        x, y = margin + f["x0"] * scale, margin + (naxis2 - f["y0"] - f["ny"]) * scale
        w, h = f["nx"] * scale, f["ny"] * scale
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="none" stroke="#bbb"/>')
    for f in footprints:
        cx = margin + (f["x0"] + f["nx"] / 2) * scale
        cy = margin + (naxis2 - f["y0"] - f["ny"] / 2) * scale
        radius = max(4.0, min(14.0, 0.15 * min(f["nx"], f["ny"]) * scale))
        fill = level_colour(f["centre_level"], limit)
        parts.append(
            f'<circle class="correction" cx="{cx:.1f}" cy="{cy:.1f}" r="{radius:.1f}" fill="{fill}" stroke="#333">'
            f"<title>{escape(f['id'])}: {_number(f['centre_level'])}</title></circle>"
        )
        if label:
            parts.append(
                f'<text x="{cx:.1f}" y="{cy + radius + 11:.1f}" font-size="10" text-anchor="middle">'
                f"{_number(f['centre_level'])}</text>"
            )
    # The colour bar: -limit at the bottom, +limit at the top.
    bx, steps = margin + width + 20, 20
    for i in range(steps):
        value = limit - (i + 0.5) * 2 * limit / steps
        y = margin + i * height / steps
        parts.append(
            f'<rect x="{bx}" y="{y:.1f}" width="14" height="{height / steps + 0.5:.1f}" '
            f'fill="{level_colour(value, limit)}"/>'
        )
    parts.append(f'<rect x="{bx}" y="{margin}" width="14" height="{height:.1f}" fill="none" stroke="#333"/>')
    more, less = ("≥ ", "≤ ") if beyond else ("", "")
    for value, y, prefix in ((limit, margin, more), (0.0, margin + height / 2, ""), (-limit, margin + height, less)):
        parts.append(f'<text x="{bx + 18}" y="{y + 4:.1f}" font-size="11">{prefix}{_number(value)}</text>')
    parts.append("</svg>")
    if beyond:
        parts.append(
            f'<p class="note" id="corrections-clipped">The colour scale ends at ±{_number(limit)}, the '
            f"{CLIP_PERCENTILE}th percentile of the levels' size: {beyond} image(s) beyond it take the end "
            "colours (their values are in the table below).</p>"
        )
    return "".join(parts)


def _by_item(rows, section):
    """{item: {metric: value}} of a per-item section, in the table's order."""
    items = {}
    for row in rows:
        if row["section"] == section:
            items.setdefault(row["item"], {})[row["metric"]] = row["value"]
    return items


def _value(rows, section, metric):
    for row in rows:
        if row["section"] == section and row["metric"] == metric and not row["item"]:
            return row["value"]
    return "n/a"


def headline(rows):
    """One sentence with the figures a reader looks at first."""

    def get(section, metric):  # three significant digits are enough to read
        value = _value(rows, section, metric)
        return f"{float(value):.3g}" if _is_number(value) else value

    fraction = get("coverage", "fraction")
    coverage = f"{100 * float(fraction):.1f}%" if _is_number(fraction) else fraction
    return (
        f"{get('images', 'used')} images used, {get('images', 'skipped')} files skipped, "
        f"{get('images', 'projection_failed')} projections failed. "
        f"Overlap differences (median RMS): {get('overlap_rms', 'rms_before_median')} before matching, "
        f"{get('overlap_rms', 'rms_after_median')} after. "
        f"Largest seam after matching: {get('seams', 'max')} noise units. "
        f"Coverage {coverage}; depth {get('depth', 'min')} to {get('depth', 'max')} images "
        f"(median {get('depth', 'median')})."
    )


def page(rows, footprints, naxis1, naxis2):
    """The whole HTML document for one mosaic's quality rows."""
    name = _value(rows, "mosaic", "name")
    out = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>Quality of {escape(name)}</title>',
        f"<style>{CSS}</style></head><body>",
        f"<h1>Quality of mosaic {escape(name)}</h1>",
    ]
    if _value(rows, "verdict", "status") == "broken":
        reason = _value(rows, "verdict", "reason")
        out.append(f'<p id="verdict" class="broken">This mosaic is broken: {escape(reason)}.</p>')
    out.append(f'<p id="headline">{escape(headline(rows))}</p>')

    screened = [
        {"overlap": row["item"], "action": row["metric"], "reason": row["value"]}
        for row in rows
        if row["section"] == "fit"
    ]
    if screened:
        out.append("<h2>Fits not used as fitted</h2>")
        out.append(
            '<p class="note">Difference fits the background model used as slivers (slope across dropped, '
            "level from the difference's median), or did not use "
            "(background.fit_screen), with the reason.</p>"
        )
        columns = [("overlap", "images"), ("action", "used as"), ("reason", "reason")]
        out.append(_folded("Fits not used as fitted", table(columns, screened, "fits-screened"), len(screened)))

    out.append("<h2>Images not used</h2>")
    unused = [
        {"path": row["item"], "kind": row["metric"], "reason": row["value"]}
        for row in rows
        if row["section"] == "skipped"
    ]
    if unused:
        columns = [("path", "file"), ("kind", "kind"), ("reason", "reason")]
        out.append(_folded("Files not used", table(columns, unused, "not-used"), len(unused)))
    else:
        out.append('<p id="not-used">None: every input file is in the mosaic.</p>')

    out.append("<h2>Background corrections</h2>")
    if footprints:
        out.append(
            '<p class="note">Each image\'s footprint on the mosaic, and at its centre the level '
            "the background model subtracts there (data units; the plane's value at the image centre). "
            "Matching fixes relative levels only: what matters is how the levels vary across the field. "
            "A disc's size follows its image's footprint (it says nothing about the level).</p>"
        )
        out.append(corrections_svg(footprints, naxis1, naxis2))
        per_image = [
            {
                "id": f["id"],
                "centre_level": _number(f["centre_level"]),
                "slope": _number(f["slope"]),
            }
            for f in footprints
        ]
        columns = [("id", "image"), ("centre_level", "level at centre"), ("slope", "slope (per pixel)")]
        out.append(_folded("Corrections per image", table(columns, per_image, "corrections"), len(per_image)))
    else:
        out.append("<p>No background matching for this mosaic (model: none), or no corrections.</p>")

    out.append("<h2>Summary</h2>")
    summary = [row for row in rows if not row["item"]]
    out.append(
        table([("section", "section"), ("metric", "metric"), ("value", "value"), ("unit", "unit")], summary, "summary")
    )

    overlaps = [{"overlap": item, **values} for item, values in _by_item(rows, "overlap").items()]
    out.append("<h2>Overlaps</h2>")
    if overlaps:
        columns = [
            ("overlap", "images"),
            ("status", "fit"),
            ("pixels", "common pixels"),
            ("rms_before", "RMS before"),
            ("rms_after", "RMS after"),
            ("seam", "seam (noise units)"),
            ("message", "message"),
        ]
        out.append(_folded("Overlaps", table(columns, overlaps, "overlaps"), len(overlaps)))
    else:
        out.append("<p>No overlapping images.</p>")

    histogram = [
        {"depth": item, "pixels": values["pixels"]} for item, values in _by_item(rows, "depth_histogram").items()
    ]
    out.append("<h2>Depth</h2>")
    out.append(table([("depth", "images"), ("pixels", "mosaic pixels")], histogram, "depth"))
    out.append("</body></html>")
    return "\n".join(out)
