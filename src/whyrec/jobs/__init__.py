"""Jobs over a whole model or data set: the demo, and batch recommendations and explanations of every user."""

from whyrec.jobs.batch import read_job, run_job

__all__ = ["read_job", "run_job"]
