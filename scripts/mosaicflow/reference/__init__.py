"""What the workflow is measured against, by the tests and the benchmarks:
Montage's own single-process chain (``chain``), Montage's drivers
hand-parallelised (``hand_parallel``), the truth of a synthetic sky
(``truth``), and the speed comparison's report (``speed``)."""
