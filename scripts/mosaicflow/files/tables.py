"""Read and write the small tables the workflow passes between jobs.

Two formats: Montage's fixed-width IPAC ASCII tables (what MontagePy reads and
writes) and tab-separated files for our own bookkeeping (``images.tsv``,
``skipped.tsv``). Standard library only: per-image jobs import this.
"""

from .atomic import write_text


def read_ipac(path):
    """Rows of a Montage/IPAC ASCII table as a list of dicts of strings.

    Columns are located by the ``|`` separators of the first header line, as
    Montage's own table reader does, so values containing spaces survive.
    """
    # Montage tables are ASCII; be lenient with stray bytes in unused columns.
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines()
    header = None
    rows = []
    for line in lines:
        if not line.strip() or line.startswith("\\"):
            continue
        if line.startswith("|"):
            if header is None:
                header = _column_spans(line)
            continue
        if header is None:
            raise ValueError(f"{path}: no header line before data")
        rows.append({name: line[start:end].strip() for name, start, end in header})
    return rows


def _column_spans(header_line):
    bars = [i for i, char in enumerate(header_line) if char == "|"]
    spans = []
    for left, right in zip(bars, bars[1:], strict=False):
        name = header_line[left + 1 : right].strip()
        spans.append((name, left, right + 1))
    if spans:
        # The last column may be followed by longer values than its header.
        name, start, _ = spans[-1]
        spans[-1] = (name, start, None)
    return spans


def filter_ipac(source, target, keep):
    """Copy an IPAC table to ``target`` (atomically), keeping the header lines
    and the data rows for which ``keep(row)`` is true (row: dict of strings)."""
    with open(source, encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines()
    spans = _column_spans(next(line for line in lines if line.startswith("|")))
    kept = []
    for line in lines:
        if line.startswith(("\\", "|")):
            kept.append(line)
        elif line.strip() and keep({name: line[start:end].strip() for name, start, end in spans}):
            kept.append(line)
    write_text(target, "\n".join(kept) + "\n")


def with_cell(line, span, value):
    """A fixed-width data line with the cell of ``span`` (from ``_column_spans``)
    set to ``value``, right-aligned before the column's closing ``|`` as Montage
    writes it (its table reader gives a character under a ``|`` to the next column)."""
    _, left, right = span
    return line[:left] + str(value).rjust(right - 1 - left) + line[right - 1 :]


def concatenate_ipac(sources, renumber=None):
    """The header lines of the first IPAC table, then the data lines of all, in
    order, as text (lines and their ends as written).

    With ``renumber`` (a column name) that column of the data lines is rewritten
    0, 1, ... across all of them (``with_cell``).
    """
    out, count = [], 0
    for number, source in enumerate(sources):
        with open(source, encoding="utf-8", errors="replace", newline="") as handle:
            lines = handle.read().splitlines(keepends=True)
        header = [line for line in lines if line.startswith(("\\", "|"))]
        if number == 0:
            out.extend(header)
            if renumber:
                names = next(line for line in header if line.startswith("|")).rstrip("\r\n")
                column = next(span for span in _column_spans(names) if span[0] == renumber)
        for line in lines:
            if line.startswith(("\\", "|")) or not line.strip():
                continue
            if renumber:
                line = with_cell(line, column, count)
            out.append(line if line.endswith("\n") else line + "\n")  # a last line without one
            count += 1
    return "".join(out)


def format_ipac(columns, rows, types=None):
    """Format rows (dicts) as an IPAC table with the given columns.

    Each column is padded to its widest value so that fixed-width readers
    (Montage's ``tread``) find every value under its header.
    """
    widths = {}
    for name in columns:
        values = [str(row[name]) for row in rows]
        widths[name] = max([len(name), *map(len, values)]) + 1
    head = "|" + "|".join(name.rjust(widths[name]) for name in columns) + "|"
    lines = [head]
    if types:
        lines.append("|" + "|".join(types[n].rjust(widths[n]) for n in columns) + "|")
    for row in rows:
        cells = (str(row[name]).rjust(widths[name]) for name in columns)
        lines.append(" " + " ".join(cells) + " ")
    return "\n".join(lines) + "\n"


def write_ipac(path, columns, rows, types=None):
    write_text(path, format_ipac(columns, rows, types))


def read_tsv(path):
    """Rows of a TSV written by ``write_tsv`` (cells never hold tabs or newlines).

    Not the csv module: per-image jobs read these and csv costs ~9 ms to import.
    """
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    columns = lines[0].split("\t")
    return [dict(zip(columns, line.split("\t"), strict=True)) for line in lines[1:] if line]


def format_tsv(columns, rows):
    lines = ["\t".join(columns)]
    for row in rows:
        cells = (_tsv_cell(row.get(name, "")) for name in columns)
        lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"


def _tsv_cell(value):
    # Tabs and newlines would break the table; file names may contain anything.
    return str(value).replace("\t", " ").replace("\n", " ").replace("\r", " ")


def write_tsv(path, columns, rows):
    write_text(path, format_tsv(columns, rows))


# mDiffFitExec's fits table, column names and row format copied from Montage so
# that mBgModel reads our gathered table exactly as it reads its own.
FITS_COLUMNS = (
    "plus minus a b c crpix1 crpix2 xmin xmax ymin ymax xcenter ycenter npixel rms boxx boxy boxwidth boxheight boxang"
).split()
FITS_HEADER = (
    "|   plus  |  minus  |         a      |        b       |        c       |"
    "    crpix1    |    crpix2    |   xmin   |   xmax   |   ymin   |   ymax   |"
    "   xcenter   |   ycenter   |    npixel   |      rms       |      boxx      |"
    "      boxy      |    boxwidth    |   boxheight    |     boxang     |\n"
)
FITS_ROW = (
    " %9d %9d %16.5e %16.5e %16.5e %14.2f %14.2f %10d %10d %10d %10d %13.2f %13.2f"
    " %13.0f %16.5e %16.1f %16.1f %16.1f %16.1f %16.1f \n"
)
FIT_FIELDS = FITS_COLUMNS[2:]
# One column more than Montage's (mBgModel reads columns by name and ignores
# it): the median of the difference image's pixels, a level that a bad plane
# over a sliver cannot throw off (mosaicflow.montage.fitscreen).
FITS_HEADER_WITH_MEDIAN = FITS_HEADER[:-1] + "     median     |\n"


def format_fit_row(plus, minus, fit):
    """A fits-table row; with a ``median`` in ``fit``, that column too (FITS_HEADER_WITH_MEDIAN)."""
    values = [fit[name] for name in FIT_FIELDS]
    row = FITS_ROW % (plus, minus, *values)
    if "median" in fit:
        row = row[:-1] + f"{fit['median']:16.5e} \n"
    return row
