"""Pictures of a trained run: loss curves, clusters against labels, sample images per cluster.

Plotting takes plain numpy arrays and history rows, so it does not depend on how a method is
built; only :mod:`bitcluster.training.report.predict` loads a model. matplotlib draws without a
display (figures are built with ``matplotlib.figure.Figure``, never pyplot).
"""

from bitcluster.training.report.confusion import matched_contingency, plot_confusion
from bitcluster.training.report.curves import epoch_accuracy, plot_curves
from bitcluster.training.report.gallery import plot_cluster_grid
from bitcluster.training.report.run_report import (
    ensure_run_report,
    format_summary,
    run_summary,
    write_run_report,
)

__all__ = ["ensure_run_report", "epoch_accuracy", "format_summary", "matched_contingency", "plot_cluster_grid",
           "plot_confusion", "plot_curves", "run_summary", "write_run_report"]
