"""What a run on an HTCondor pool needs around the executor: whether this
machine can submit, said in one line; and its job event log set aside at its end.

The HTCondor executor finds out only when it submits the first job, and then
ends the run with a long traceback ("Unable to locate local daemon"). A run
with ``--profile profiles/htcondor`` asks the schedd first (a dry run does
not: it needs no pool).
"""

import os


def schedd_problem():
    """None if a schedd answers, else what to check, in one line."""
    import warnings

    config = os.environ.get("CONDOR_CONFIG") or "unset"  # the bindings set it on import
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bindings' CONDOR_CONFIG warning: said below
        try:
            import htcondor2
        except ImportError:
            return "the HTCondor executor needs the htcondor bindings: pip install -r envs/requirements-htcondor.txt"
    try:
        htcondor2.Schedd()
    except Exception as error:
        return (
            f"no HTCondor schedd answers on this machine ({str(error).rstrip('.')}): run this on a submit node,"
            f" check that `condor_q` works here and that CONDOR_CONFIG (now {config}) points to"
            " the pool's configuration"
        )
    return None


# The executor's job event log, in its job folder (the profile's htcondor-jobdir).
EVENT_LOG = "snakemake-rules.log"
PREVIOUS_EVENT_LOG = "previous-run.log"


def set_aside_event_log(jobdir):
    """At the end of a pool run, its job event log moves to ``previous-run.log``.

    The HTCondor executor (snakemake-executor-plugin-htcondor 0.3.0) starts
    its status thread before it sets up the attributes that thread uses; when
    the event log of an earlier run is there to read, that thread can die at
    its first check, and Snakemake then waits for ever (docs/upstream.md). A
    run that starts without one is safe: the executor reads the log only once
    its first job has written it. A run killed before its end leaves the log
    where it is; the next run's end moves it. Returns the new path, or None."""
    path = os.path.join(jobdir, EVENT_LOG)
    if not os.path.exists(path):
        return None
    previous = os.path.join(jobdir, PREVIOUS_EVENT_LOG)
    os.replace(path, previous)
    return previous
