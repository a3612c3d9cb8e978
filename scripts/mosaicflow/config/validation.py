"""Config validation against a JSON schema, with messages a user can act on.

Fills in the schema's defaults as Snakemake's own ``validate`` does, but when
the config is wrong it says where and what in a few lines: an unknown key is
named with the closest known one ("did you mean 'region'?"), and the
"'region' is a required property" that a misspelled key also causes is not
repeated. Snakemake's message is jsonschema's, followed by the whole schema.
"""

import difflib
import functools
import os

from .. import UserError

MAX_PROBLEMS = 4


def load_schema(path):
    """A YAML schema file as a dict.

    With libyaml's loader where PyYAML has it: every Snakemake start reads the
    config schema, and PyYAML's pure-Python loader is many times slower.
    """
    import yaml

    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.cache
def _validator_class(schema_path):
    """A Draft 2020-12 validator for ``schema_path`` that also sets defaults."""
    from jsonschema import Draft202012Validator, validators

    schema = load_schema(schema_path)
    check_properties = Draft202012Validator.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for name, definition in properties.items():
                if "default" in definition:
                    instance.setdefault(name, definition["default"])
        yield from check_properties(validator, properties, instance, subschema)

    with_defaults = validators.extend(Draft202012Validator, {"properties": properties_with_defaults})
    return schema, with_defaults


def validate(data, schema_path, source=""):
    """Validate ``data`` (a dict, changed in place: defaults filled in) or raise UserError.

    ``source`` (e.g. the config files' names) is named in the message.
    """
    schema, validator_class = _validator_class(os.path.abspath(schema_path))
    validator = validator_class(schema)
    first = next(iter(validator.iter_errors(data)), None)
    if first is None:
        return data
    problems = describe(validator.iter_errors(data))
    shown = problems[:MAX_PROBLEMS]
    more = len(problems) - len(shown)
    if more > 0:
        shown.append(f"(and {more} more)")
    headline = f"invalid configuration in {source}" if source else "invalid configuration"
    raise UserError(headline + ":\n  " + "\n  ".join(shown))


def describe(errors):
    """One line per problem, unknown keys first; drops 'X is required' where a misspelled X is named."""
    errors = list(_leaves(errors))
    unknown, guessed = [], set()
    for error in errors:
        if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
            continue
        known = sorted(error.schema.get("properties", {}))
        for key in sorted(set(error.instance) - set(known)):
            guess = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            place = f"in {_location(error.absolute_path)}" if error.absolute_path else "at the config's top level"
            line = f"unknown key {key!r} {place}"
            if guess:
                line += f"; did you mean {guess[0]!r}?"
                guessed.add((tuple(error.absolute_path), guess[0]))
            elif known:
                line += f" (known keys: {', '.join(known)})"
            unknown.append(line)
    others = []
    for error in errors:
        if error.validator == "additionalProperties":
            continue
        if error.validator == "required":
            missing = _missing_property(error)
            if (tuple(error.absolute_path), missing) in guessed:
                continue
            others.append(f"{_location(error.absolute_path)}: missing key {missing!r}")
            continue
        others.append(f"{_location(error.absolute_path)}: {_message(error)}")
    return _unique(unknown + others)


def _leaves(errors):
    """The innermost errors: an allOf/if-then failure says only that a branch failed."""
    for error in errors:
        if error.context:
            yield from _leaves(error.context)
        elif error.validator in ("allOf", "anyOf", "oneOf", "if", "then", "else", "$ref"):
            continue
        else:
            yield error


def _missing_property(error):
    for name in error.validator_value:
        if isinstance(error.instance, dict) and name not in error.instance:
            return name
    return str(error.validator_value)


def _location(path):
    parts = [str(part) for part in path]
    return ".".join(parts) if parts else "the config's top level"


def _message(error):
    """jsonschema's message, without a regular expression a user cannot act on."""
    if error.validator == "pattern":
        described = error.schema.get("description")
        return f"{error.instance!r} is not allowed here" + (f" ({described})" if described else "")
    if error.validator == "enum":
        choices = ", ".join(repr(value) for value in error.validator_value)
        return f"{error.instance!r} is not one of {choices}"
    return error.message


def _unique(lines):
    seen, kept = set(), []
    for line in lines:
        if line not in seen:
            seen.add(line)
            kept.append(line)
    return kept


# the paths a mosaic's config names: its key, how to tell the path's kind, the kind
PATHS = {
    "source.path": (os.path.isdir, "folder"),
    "region.header": (os.path.isfile, "file"),
}


def path_problem(mosaic_name, key, path):
    """Why a mosaic's ``path`` (config key ``key`` of ``PATHS``) cannot be used,
    naming the mosaic and the key, or None. Relative paths are read from the
    working directory, as Snakemake reads them."""
    is_kind, kind = PATHS[key]
    if is_kind(path):
        return None
    problem = f"is not a {kind}" if os.path.exists(path) else "does not exist"
    return (
        f"mosaics.{mosaic_name}.{key}: {path!r} {problem}"
        f" (a relative path is read from the working directory, {os.getcwd()})"
    )


def missing_paths(mosaics):
    """``path_problem`` of every source folder and header template of validated
    mosaics (only a local source has a path; paths with a ``{band}`` placeholder
    are short forms, checked by the run once they are expanded into mosaics)."""
    problems = []
    for name, mosaic in mosaics.items():
        for key in PATHS:
            section, field = key.split(".")
            path = mosaic.get(section, {}).get(field)
            if path is not None and "{" not in path:
                problems.append(path_problem(name, key, path))
    return [problem for problem in problems if problem]
