# The run's own bookkeeping, done by the main Snakemake process: what killed
# jobs left behind is removed before any job starts, results/summary.tsv is
# written at the start and at the end from what this run planned and did,
# and at the end the HTML report's landing page (the summary and the time per
# stage). None of it runs for dry runs (Snakemake calls no handler then).

RUN = {"started": 0.0}


def job_states():
    """{(kind, name): JobState} from the DAG of this run (a public Snakemake API
    since 8: DAG.jobs, needrun, finished)."""
    from mosaicflow.reports.summary import JobState

    dag = workflow.dag
    states = {}
    for job in dag.jobs:
        wildcards = dict(job.wildcards.items())
        if "mosaic" in wildcards:
            key = ("mosaic", wildcards["mosaic"])
        elif "color" in wildcards:
            key = ("colour", wildcards["color"])
        else:
            continue
        state = states.setdefault(key, JobState())
        state.outputs.update(str(path) for path in job.output)
        if dag.needrun(job) and not dag.finished(job):
            state.undone += 1
            state.undone_logs.extend(str(path) for path in job.log)
    return states


REPORT_DESCRIPTION = os.path.join(workflow.basedir, "report", "workflow.rst")


def write_run_summary(running=False):
    from mosaicflow.reports import runpage
    from mosaicflow.reports.summary import write_summary

    states = job_states()
    rows = write_summary(
        {name: states.get(("mosaic", name)) for name in MOSAICS},
        {name: states.get(("colour", name)) for name in COLORS},
        RUN["started"],
        running=running,
    )
    # the landing page reads every benchmark record: once, at the end
    if not running:
        runpage.write(rows, MOSAICS, REPORT_DESCRIPTION)
    return rows


def landing_page():
    """The report's first page: the description, with the last run's summary once written."""
    from mosaicflow.reports import runpage

    return runpage.landing_page(REPORT_DESCRIPTION)


def report_failures(rows):
    failed = [
        f"{r['name']}: {r['reason'] or r['status']}"
        for r in rows
        if r["status"] in ("failed", "incomplete")
    ]
    if failed:
        print(
            f"Not built (see {layout.run_path('summary')}):\n  " + "\n  ".join(failed),
            file=sys.stderr,
        )


def on_a_pool():
    """Whether this run's executor is HTCondor's. Known only once the run
    starts: the executor is chosen after this file is parsed."""
    plugin = workflow.executor_plugin
    return plugin is not None and plugin.name == "htcondor"


def refuse_a_pool_run_without_a_schedd():
    """One line, before any job, where no schedd answers (the executor would
    find out at the first submission, with a long traceback)."""
    if not on_a_pool():
        return
    # off: let the executor try (with --verbose it logs each job's submit description)
    if os.environ.get("MOSAICFLOW_POOL_CHECK") == "off":
        return
    from mosaicflow.operations import pool

    problem = pool.schedd_problem()
    if problem:
        raise WorkflowError(problem)


def start_run():
    import time

    from mosaicflow.files.layout import remove_debris

    refuse_a_pool_run_without_a_schedd()
    RUN["started"] = time.time()
    removed = remove_debris()
    if removed:
        print(
            f"Removed {len(removed)} temporary files of interrupted jobs",
            file=sys.stderr,
        )
    write_run_summary(running=True)


def end_run():
    report_failures(write_run_summary())
    if on_a_pool():
        from mosaicflow.operations import pool

        pool.set_aside_event_log(workflow.executor_settings.jobdir)


def report_jobs_done():
    """The job stats of what this run did, as Snakemake's own run-info event.

    Snakemake sends its job stats once, before checkpoints run; the tracking
    database's logger plugin (snakemake-logger-plugin-snkmt 0.1.9) never
    lowers the total it then holds, and stores a successful run whose
    checkpoint shrank the plan as UNKNOWN (docs/upstream.md). The plugin takes
    the total of a later run-info event as it comes.
    """
    from collections import Counter

    from snakemake.logging import logger
    from snakemake_interface_logger_plugins.common import LogEvent

    dag = workflow.dag
    done = Counter(job.rule.name for job in dag.jobs if dag.finished(job))
    stats = {**done, "total": sum(done.values())}
    logger.info(
        f"{stats['total']} jobs done",
        extra={"event": LogEvent.RUN_INFO, "stats": stats},
    )


onstart:
    start_run()


onsuccess:
    end_run()
    report_jobs_done()


onerror:
    end_run()
