#!/bin/sh
# Kills Snakemake's whole process group (SIGKILL) while job `part` runs, then
# runs `--unlock` and `--rerun-incomplete` and prints whether `part` ran again
# and whether its output is complete. One line per case:
#   when:  first  = part's first run is killed (no metadata for its output yet)
#          rerun  = a full run, then in.txt changed; the run redoing part is killed
#   via:   checkpoint = part is planned after the checkpoint; plain = in the first DAG
#   output: dir = directory("part-1"); file = "part-1"
# Usage: sh run.sh [when via output]   (no arguments: all 8 cases; ~2 min)
#        PYTHON=/path/to/python to pick an interpreter; FIXED=1 to make the
#        --rerun-incomplete run with the suggested fix (fixed.py)
set -e
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python}

one() {
    when=$1 via=$2 out=$3
    work=$(mktemp -d "${TMPDIR:-/tmp}/incomplete-after-checkpoint.XXXXXX")
    cp "$here/Snakefile" "$work/"
    cd "$work"
    v=1; [ "$via" = plain ] && v=0
    d=1; [ "$out" = file ] && d=0
    sm() { "$py" -m snakemake --cores 1 --config via_checkpoint=$v as_dir=$d "$@"; }
    echo x > in.txt
    if [ "$when" = rerun ]; then
        sm > run0.log 2>&1
        sleep 1; echo y > in.txt       # a new content (a mere touch keeps the checksum)
    fi
    setsid "$py" -m snakemake --cores 1 --config via_checkpoint=$v as_dir=$d > run1.log 2>&1 &
    pid=$!
    until grep -q "rule part:" run1.log 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || { echo "$when $via $out: part did not start"; cd /; rm -rf "$work"; return; }
        sleep 0.2
    done
    sleep 1.5                          # part is in its `sleep 5`, part-1 exists
    "$py" -c "import os, signal; os.killpg($pid, signal.SIGKILL)"
    wait "$pid" 2>/dev/null || true
    marked=$(ls .snakemake/incomplete 2>/dev/null | wc -l)
    sm --unlock > unlock.log 2>&1
    if [ -n "$FIXED" ]; then
        "$py" "$here/fixed.py" --cores 1 --config via_checkpoint=$v as_dir=$d --rerun-incomplete > run2.log 2>&1 || true
    else
        sm --rerun-incomplete > run2.log 2>&1 || true
    fi
    reran=no; grep -q "rule part:" run2.log && reran=yes
    complete=no
    if [ "$out" = dir ]; then [ -e part-1/done ] && complete=yes
    else grep -q done part-1 && complete=yes; fi
    replan=no; grep -q "Updating checkpoint dependencies" run2.log && replan=yes
    left=$(ls .snakemake/incomplete 2>/dev/null | wc -l)
    echo "$when $via $out: marked incomplete after kill: $marked; rerun-incomplete run: part rerun: $reran," \
         "output complete: $complete (checkpoint re-plan: $replan; markers left: $left)"
    cd /; [ -n "$KEEP" ] || rm -rf "$work"
}

echo "snakemake $("$py" -c "import snakemake; print(snakemake.__version__)")${FIXED:+ (fixed)}"
if [ $# -eq 3 ]; then one "$@"; exit; fi
for when in first rerun; do for via in checkpoint plain; do for out in dir file; do
    one $when $via $out
done; done; done
