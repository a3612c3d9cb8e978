"""Whether this machine can submit to an HTCondor pool, said in one line.

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
