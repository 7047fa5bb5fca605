"""Learning from a user's labels: a LightGBM classifier of invalid traffic (model) and the labels
file it learns from (labels). Scoring inside an audit, on DuckDB or Spark alike, is
detect/model.py through Engine.map_batches.
"""

from qinglang.learn.labels import LabelSet, align, match_report, read_labels
from qinglang.learn.model import (
    FORMAT,
    FORMAT_VERSION,
    PSI_ALERT,
    Model,
    drift,
    fit,
    load,
    model_sha256,
    predict,
    save,
    top_contributions,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "PSI_ALERT",
    "LabelSet",
    "Model",
    "align",
    "drift",
    "fit",
    "load",
    "match_report",
    "model_sha256",
    "predict",
    "read_labels",
    "save",
    "top_contributions",
]
