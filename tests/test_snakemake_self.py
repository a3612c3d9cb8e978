"""benchmarks/snakemake_self.py: Snakemake's own CPU seconds, apart from its jobs'."""

import json
import os
import resource
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WRAPPER = os.path.join(HERE, "..", "benchmarks", "snakemake_self.py")


def test_records_the_snakemake_process_alone_not_its_jobs(tmp_path):
    # one job that spends ~2 CPU-s: the tree's CPU holds it, Snakemake's own does not
    (tmp_path / "Snakefile").write_text(
        "rule busy:\n"
        "    output: 'done.txt'\n"
        "    shell: 'python3 -c \"import time; t = time.process_time()\\n"
        "while time.process_time() - t < 2: pass\" && touch {output}'\n"
    )
    own = tmp_path / "own.json"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, WRAPPER, str(own), "-s", str(tmp_path / "Snakefile"), "-d", str(tmp_path), "--cores", "1"],
        check=True,
        capture_output=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    tree = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert (tmp_path / "done.txt").exists()
    recorded = json.loads(own.read_text())
    snakemake = recorded["user"] + recorded["system"]
    assert 0 < snakemake < tree - 1.9, (snakemake, tree)
