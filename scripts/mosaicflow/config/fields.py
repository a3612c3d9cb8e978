"""Expand the config's short forms into plain mosaics and colour composites.

Runs when the workflow is parsed (standard library only):

- ``bands: [J, H, K]`` on a mosaic makes one mosaic per band, named
  ``NAME_J``, ``NAME_H``, ``NAME_K``, with the same region, plus the colour
  composite ``NAME`` (bands are listed blue, green, red). An archive source
  gets the band; a local source's ``path`` may contain ``{band}``; a synthetic
  source gets the band (different backgrounds, noise and star colours).
- ``fields: table.tsv`` adds one mosaic (or one per band, plus a composite) per
  row of a tab-separated table.
- ``colors: {NAME: {red: M1, green: M2, blue: M3}}`` names composites
  explicitly; their mosaics must share one region (not ``auto``).
"""

import copy
import os

from .. import UserError
from .validation import load_schema

CHANNELS = ("blue", "green", "red")
# Names under results/ (and logs/) that the workflow uses itself.
RESERVED_NAMES = {"color": "the colour composites", "summary.tsv": "the run summary"}


def expand(config, workdir="."):
    """(mosaics, colours) from the validated config: every mosaic concrete."""
    mosaics, colours = {}, {}
    for name, mosaic in config.get("mosaics", {}).items():
        _add(mosaics, colours, name, mosaic, where=f"mosaics.{name}")
    if config.get("fields"):
        for name, mosaic in read_fields_table(os.path.join(workdir, config["fields"])).items():
            if name in mosaics or name in colours:
                raise UserError(f"fields table {config['fields']!r}: field {name!r} is also defined in mosaics")
            _add(mosaics, colours, name, mosaic, where=f"{config['fields']}: field {name}")
    for name, colour in config.get("colors", {}).items():
        if name in colours:
            raise UserError(f"colors.{name}: a composite of that name is already made from `bands`")
        colours[name] = dict(colour)
    for name, colour in colours.items():
        check_composite(name, {c: colour[c] for c in CHANNELS}, mosaics)
    reserved = sorted(set(mosaics) & RESERVED_NAMES.keys())
    if reserved:
        name = reserved[0]
        raise UserError(f"mosaic name {name!r} is reserved: results/{name} holds {RESERVED_NAMES[name]}; rename it")
    if not mosaics:
        raise UserError("no mosaics configured: give mosaics: {NAME: {source: ..., region: ...}} or a fields table")
    clashes = sorted(set(mosaics) & set(colours))
    if clashes:
        raise UserError(f"{', '.join(clashes)}: a mosaic and a colour composite cannot share a name")
    return mosaics, colours


def _add(mosaics, colours, name, mosaic, where):
    bands = mosaic.get("bands")
    if not bands:
        if mosaic["source"]["type"] == "archive" and not mosaic["source"].get("band"):
            raise UserError(f"{where}: an archive source needs a band (or the mosaic needs bands: [...])")
        mosaics[name] = mosaic
        return
    if mosaic["region"].get("auto"):
        raise UserError(
            f"{where}: a mosaic with bands needs one region for all bands (a header or a centre and size); "
            "region: {auto: true} would fit each band's images separately"
        )
    per_band = {}
    for band in bands:
        band_name = f"{name}_{_safe(band)}"
        concrete = {key: copy.deepcopy(value) for key, value in mosaic.items() if key != "bands"}
        concrete["source"] = _source_for_band(concrete["source"], band, where)
        mosaics[band_name] = concrete
        per_band[band] = band_name
    if len(bands) == 3:
        colours[name] = dict(zip(CHANNELS, (per_band[b] for b in bands), strict=True))


def _source_for_band(source, band, where):
    source = dict(source)
    if source["type"] == "archive":
        source["band"] = band
    elif source["type"] == "local":
        if "{band}" not in source["path"]:
            raise UserError(f"{where}: with bands, source.path must contain {{band}}, e.g. /data/orion/{{band}}")
        source["path"] = source["path"].replace("{band}", str(band))
    else:
        source["band"] = band
    return source


def _safe(band):
    text = "".join(c if c.isalnum() or c in "_-" else "_" for c in str(band))
    if not text:
        raise UserError(f"band {band!r} has no usable characters for a mosaic name")
    return text


def check_composite(name, channels, mosaics):
    """The three mosaics exist and share one explicit region."""
    missing = [m for m in channels.values() if m not in mosaics]
    if missing:
        raise UserError(f"colour composite {name!r}: no mosaic named {', '.join(map(repr, missing))}")
    regions = {channel: mosaics[m]["region"] for channel, m in channels.items()}
    if any(region.get("auto") for region in regions.values()):
        raise UserError(
            f"colour composite {name!r}: its mosaics must share one output header, so none may use "
            "region: {auto: true}; give them the same header file or centre and size"
        )
    first = regions["red"]
    different = [f"{channel} ({channels[channel]})" for channel, region in regions.items() if region != first]
    if different:
        raise UserError(
            f"colour composite {name!r}: the region of {', '.join(different)} differs from that of "
            f"red ({channels['red']}); the three mosaics must share one region (define it once, e.g. with a "
            "YAML anchor, or use bands: [...])"
        )


FIELDS_SCHEMA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "config", "fields.schema.yaml")


def read_fields_table(path, schema_path=FIELDS_SCHEMA):
    """Mosaic configs from a field table: one row per target.

    Tab-separated, a header line naming the columns (any order), read with
    pandas and each row validated against ``config/fields.schema.yaml`` (the
    columns, their types and defaults are described there). Lines starting
    with ``#`` and empty lines are ignored; errors name the line.
    """
    import io

    import pandas as pd

    try:
        with open(path, encoding="utf-8") as handle:
            numbered = [(n, line.rstrip("\n")) for n, line in enumerate(handle, start=1)]
    except OSError as error:
        raise UserError(f"cannot read the fields table {path!r}: {error.strerror}") from None
    numbered = [(n, line) for n, line in numbered if line.strip() and not line.startswith("#")]
    if not numbered:
        raise UserError(f"fields table {path!r} is empty")
    schema = load_schema(schema_path)
    columns = [c.strip() for c in numbered[0][1].split("\t")]
    unknown = [c for c in columns if c not in schema["properties"]]
    if unknown or "name" not in columns:
        raise UserError(
            f"fields table {path!r}: unknown columns {unknown} "
            f"(known: {', '.join(schema['properties'])}; 'name' is required)"
        )
    for number, line in numbered[1:]:
        if line.count("\t") + 1 != len(columns):
            raise UserError(
                f"fields table {path!r} line {number}: {line.count(chr(9)) + 1} cells for {len(columns)} columns"
            )
    text = "\n".join(line for _, line in numbered)
    strings = {c: str for c in columns if schema["properties"][c]["type"] == "string"}
    table = pd.read_csv(io.StringIO(text), sep="\t", dtype=strings, skipinitialspace=True)
    table.columns = columns
    fields = {}
    for (number, _), record in zip(numbered[1:], table.to_dict("records"), strict=True):
        where = f"fields table {path!r} line {number}"
        row = {key: value.strip() if isinstance(value, str) else value for key, value in record.items()}
        row = {key: value for key, value in row.items() if not pd.isna(value) and value != ""}
        _validate_row(row, schema, where)
        if row["name"] in fields:
            raise UserError(f"{where}: field {row['name']!r} appears twice")
        fields[row["name"]] = _field_mosaic(row, where)
    return fields


def _validate_row(row, schema, where):
    """Check a row against the schema (filling its defaults), naming the cell at fault."""
    import jsonschema

    for key, spec in schema["properties"].items():
        if "default" in spec:
            row.setdefault(key, spec["default"])
    if isinstance(row.get("seed"), float) and row["seed"].is_integer():
        row["seed"] = int(row["seed"])  # pandas reads a column with empty cells as floats
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(row))
    if error is None:
        return
    cell = error.path[0] if error.path else None
    if cell is not None and error.validator == "type" and _is_number_column(schema, cell):
        raise UserError(f"{where}: {cell} {row[cell]!r} is not a number")
    raise UserError(f"{where}: {cell + ': ' if cell else ''}{error.message}")


def _is_number_column(schema, key):
    return schema["properties"].get(key, {}).get("type") in ("number", "integer")


def _field_mosaic(row, where):
    def need(key):
        if key not in row:
            raise UserError(f"{where}: column {key!r} is empty")
        return row[key]

    kind = row.get("source") or ("archive" if "survey" in row else "local")
    size = float(need("size"))
    region = {"center": need("center"), "width": size, "height": size, "pixel_scale": float(row["pixel_scale"])}
    if kind == "archive":
        source = {"type": "archive", "survey": need("survey"), "location": need("center"), "size": size}
    elif kind == "local":
        source = {"type": "local", "path": need("path")}
    elif kind == "synthetic":
        source = {"type": "synthetic", "center": need("center"), "seed": int(row.get("seed", 1))}
    else:
        raise UserError(f"{where}: source {kind!r} is not archive, local or synthetic")
    mosaic = {"source": source, "region": region}
    bands = [b.strip() for b in row.get("bands", "").split(",") if b.strip()]
    if kind == "archive" and not bands:
        raise UserError(f"{where}: an archive field needs bands (e.g. K, or J,H,K)")
    if len(bands) == 1 and kind == "archive":
        source["band"] = bands[0]
    elif bands:
        mosaic["bands"] = bands
    return mosaic
