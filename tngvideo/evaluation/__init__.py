"""Evaluation shared by benches: RD curves, BD-rate tables, report files and plots."""

from tngvideo.evaluation.rd import (
    BDRate,
    Measurement,
    RDCurve,
    RDPoint,
    RDReport,
    bd_table,
    environment,
    load_report,
    mean_at_matched_psnr,
    mean_per_setting,
    plot_report,
    save_report,
    update_report,
)

__all__ = [
    "BDRate",
    "Measurement",
    "RDCurve",
    "RDPoint",
    "RDReport",
    "bd_table",
    "environment",
    "load_report",
    "mean_at_matched_psnr",
    "mean_per_setting",
    "plot_report",
    "save_report",
    "update_report",
]
