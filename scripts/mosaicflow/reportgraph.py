"""The HTML report's rule graph with every rule drawn once.

Snakemake's report (``snakemake.report.rulegraph_spec``) keeps one job of each
rule per level of the job DAG's topological sort. Mosaics whose chains sit at
different depths (a synthetic or archive source adds a level, an automatic
region another) put the same rule on several levels, so the landing page drew
every box once per depth: two such mosaics, every box twice. ``rulegraph_spec``
here places rules, not jobs: one node per rule, ordered by the longest chain of
rules leading to it, and one link per pair of rules that any job links.

Installed (``apply``) only when Snakemake's function is, character for
character, the one it replaces (sha256 of its source), like the scheduler
workarounds (``scheduling``); any other version keeps its own. Standard
library only.
"""

from .scheduling import source_sha256

# sha256 of snakemake.report.rulegraph_spec.rulegraph_spec's dedented source in Snakemake 9.27.1.
REPLACED = "3ec1d25190e8e30e49a040dc6316f109ce296e161df58a4c68c6de5afb1ce5fe"
# Vertical distance between two nodes, in the report's drawing units (Snakemake's own).
STEP = 50


def rule_edges(dag):
    """{(upstream rule, downstream rule)} over every job of ``dag`` (self-links left out)."""
    edges = set()
    for job in dag.jobs:
        for upstream in dag.dependencies[job]:
            if upstream.rule.name != job.rule.name:
                edges.add((upstream.rule.name, job.rule.name))
    return edges


def rule_order(rules, edges):
    """Rules sorted by the length of the longest chain of rules before them, then by name.

    Rules can form a cycle although jobs cannot: a region header made before
    one mosaic's image table and after another's (``region: {auto: true}``).
    Then, of the rules whose remaining upstream rules all lie on a cycle with
    them, the one with the fewest of those goes next (then by name).
    """
    upstream = {rule: set() for rule in rules}
    downstream = {rule: set() for rule in rules}
    for source, target in edges:
        upstream[target].add(source)
        downstream[source].add(target)

    def reachable(start):
        seen, todo = set(), [start]
        while todo:
            for rule in downstream[todo.pop()] - seen:
                seen.add(rule)
                todo.append(rule)
        return seen

    depth, placed, remaining = {}, set(), set(rules)
    level = 0
    while remaining:
        ready = {rule for rule in remaining if upstream[rule] <= placed}
        if not ready:
            on_cycle = [
                rule
                for rule in remaining
                if all(rule in reachable(u) and u in reachable(rule) for u in upstream[rule] - placed)
            ]
            ready = {min(on_cycle, key=lambda rule: (len(upstream[rule] - placed), rule))}
        for rule in ready:
            depth[rule] = level
        placed |= ready
        remaining -= ready
        level += 1
    return sorted(rules, key=lambda rule: (depth[rule], rule))


def rulegraph_spec(dag):
    """(spec, xmax, ymax) as Snakemake's function returns them, one node per rule."""
    edges = rule_edges(dag)
    rules = rule_order({job.rule.name for job in dag.jobs}, edges)
    nodes = [{"rule": rule, "fx": 10, "fy": i * STEP} for i, rule in enumerate(rules)]
    index = {rule: i for i, rule in enumerate(rules)}
    links, direct = [], []
    for source, target in sorted(edges, key=lambda edge: (index[edge[1]], index[edge[0]])):
        link = {
            "target": index[target],
            "source": index[source],
            "sourcerule": source,
            "targetrule": target,
            "value": 1,
        }
        # Snakemake draws links between neighbours straight and the others as arcs.
        (direct if index[target] - index[source] == 1 else links).append(link)
    ymax = max((node["fy"] for node in nodes), default=0)
    return {"nodes": nodes, "links": links, "links_direct": direct}, 100, ymax


def apply():
    """Install ``rulegraph_spec`` where the report calls it; True when installed."""
    try:
        from snakemake.report import html_reporter
        from snakemake.report import rulegraph_spec as module
    except ImportError:
        return False
    if source_sha256(module.rulegraph_spec) != REPLACED:
        return getattr(html_reporter, "rulegraph_spec", None) is rulegraph_spec
    module.rulegraph_spec = rulegraph_spec
    # The reporter imported the name itself; it looks it up in its own module.
    html_reporter.rulegraph_spec = rulegraph_spec
    return True
