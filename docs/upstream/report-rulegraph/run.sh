#!/bin/sh
# Runs the workflow, writes its HTML report, and counts the nodes of each rule
# in the report's rule graph (the vega spec embedded as `var rulegraph_spec`),
# against the nodes of `snakemake --rulegraph`.
# Usage: sh run.sh   (PYTHON=/path/to/python to pick an interpreter)
set -e
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
cp "$here/Snakefile" "$work/"
cd "$work"
py=${PYTHON:-python}
"$py" -m snakemake --cores 1 --quiet all
"$py" -m snakemake --report report.html --quiet all
"$py" -m snakemake --rulegraph --quiet all > rulegraph.dot
"$py" - <<'PY'
import collections, json, re
import snakemake
html = open("report.html").read()
start = html.index("var rulegraph_spec = ") + len("var rulegraph_spec = ")
spec, _ = json.JSONDecoder().raw_decode(html, start)
nodes = next(d["values"] for d in spec["data"] if d["name"] == "node-data")
per_rule = collections.Counter(node["rule"] for node in nodes)
dot = re.findall(r'label = "([^"]+)"', open("rulegraph.dot").read())
print(f"snakemake {snakemake.__version__}: report rule graph: {len(nodes)} nodes for {len(per_rule)} rules "
      f"({', '.join(f'{r} {n}' for r, n in sorted(per_rule.items()))}); "
      f"--rulegraph: {len(dot)} nodes ({', '.join(sorted(dot))})")
PY
rm -rf "$work"
