"""Study harnesses and jobs: training runs, the demo, batch jobs, tuning, the paper's studies, and
the provenance every result file records. Studies sit above the library: models know nothing of
them."""

from whyrec.studies.provenance import machine, write_result
from whyrec.studies.runs import RunConfig, evaluate_model, evaluate_saved, prepare, train_run

__all__ = ["RunConfig", "evaluate_model", "evaluate_saved", "machine", "prepare", "train_run", "write_result"]
