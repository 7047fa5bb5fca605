"""The detectors' own error, as measured on labelled data, and what it adds to the intervals.

The bootstrap over (source, day) cells says how much the shares would move if the traffic were
drawn again; it says nothing of what the detectors get wrong. That error is measured where the
truth is known (`qinglang evaluate` on labelled data) as counts: true positives ``tp``, false
positives ``fp`` (flagged, truly valid or another category) and false negatives ``fn`` (truly
of the category, not flagged as it). From them, with Jeffreys' prior,

    precision ~ Beta(tp + 1/2, fp + 1/2),   recall ~ Beta(tp + 1/2, fn + 1/2),

and the true count behind ``F`` flagged UV is ``F * precision / recall`` (what was flagged, less
the false alarms, grown by what was missed). Each bootstrap resample draws its own precision and
recall per category (a fixed seed, so a re-run gives the same interval) and scales that
category's flagged UV by how far the drawn ratio lies from the measured one; the invalid share is
the sum of the scaled categories, so the overall and per-category intervals agree. The interval
thus holds the sampling and the uncertainty of the measured error, centred on the estimate: the
measured bias (a recall of 0.66 on server logs says the truth is likely above the estimate) is
stated in the method section, not added to the money, because a measurement on other traffic
(the simulator's, or another site's) is no measurement of this campaign's bias. Precision and
recall are measured on events and applied to UV: an approximation the method section states.

Which measurement applies: the bundled one (``qinglang/data/detector_error.json``, written by
``scripts/measure_detector_error.py`` on the simulator) has a ``tracker`` profile (inputs with
the tracker's signals) and a ``log`` profile (server logs: no signals, much lower recall);
``--detector-error FILE`` gives the user's own (the JSON of ``qinglang evaluate --json`` on their
labelled data, which then applies whatever the input); ``--detector-error none`` leaves detector
error out (the interval is then sampling only, and says so).
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from qinglang.errors import ConfigError

DATA_FORMAT = "qinglang.detector_error.v1"
MAX_COUNT = 10**15  # events: far beyond any measurement, small enough for a float
BUNDLED = "bundled"
NONE = "none"


def counts_from_evaluation(result: dict[str, Any]) -> dict[str, Any]:
    """tp/fp/fn, overall and per category, from `qinglang evaluate --json`'s result."""

    def one(row: dict[str, Any]) -> dict[str, int]:
        tp = int(row["true_positives"])
        return {"tp": tp, "fp": int(row["predicted"]) - tp, "fn": int(row["support"]) - tp}

    return {
        "overall": one(result["overall"]),
        "per_category": {r["category"]: one(r) for r in result.get("per_category") or []},
    }


def merge_counts(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The sum of several measurements' counts."""
    total: dict[str, Any] = {"overall": {"tp": 0, "fp": 0, "fn": 0}, "per_category": {}}
    for part in parts:
        for k in ("tp", "fp", "fn"):
            total["overall"][k] += part["overall"][k]
        for cat, c in part["per_category"].items():
            into = total["per_category"].setdefault(cat, {"tp": 0, "fp": 0, "fn": 0})
            for k in ("tp", "fp", "fn"):
                into[k] += c[k]
    return total


def _valid_counts(c: Any, where: str) -> dict[str, int]:
    if not isinstance(c, dict) or any(
        not isinstance(c.get(k), int) or isinstance(c.get(k), bool) or not 0 <= c[k] <= MAX_COUNT
        for k in ("tp", "fp", "fn")
    ):
        raise ConfigError(
            f"{where}: expected integer counts tp, fp and fn from 0 to {MAX_COUNT:.0e}"
        )
    return {k: int(c[k]) for k in ("tp", "fp", "fn")}


def _measured_on(value: Any, where: str) -> dict[str, Any]:
    """Where a profile was measured: {kind: simulator, scale, seeds} or {kind: labelled, file}."""
    if isinstance(value, dict) and value.get("kind") == "simulator":
        seeds = value.get("seeds") or []
        scale = value.get("scale") or 0
        if not isinstance(scale, int | float) or isinstance(scale, bool) or not 0 <= scale < 1e6:
            raise ConfigError(f"{where}: measured_on.scale must be a number")
        return {
            "kind": "simulator",
            "scale": float(scale),
            "seeds": [int(x) for x in seeds if isinstance(x, int)][:100]
            if isinstance(seeds, list)
            else [],
        }
    if isinstance(value, dict) and value.get("kind") == "labelled":
        return {"kind": "labelled", "file": str(value.get("file") or "")[:200]}
    raise ConfigError(f"{where}: measured_on must say simulator (scale, seeds) or labelled (file)")


def _profile(data: dict[str, Any], where: str) -> dict[str, Any]:
    per = data.get("per_category") or {}
    if not isinstance(per, dict):
        raise ConfigError(f"{where}: per_category must be an object of category counts")
    return {
        "measured_on": _measured_on(data.get("measured_on"), where),
        "overall": _valid_counts(data.get("overall"), f"{where}: overall"),
        "per_category": {
            str(cat)[:60]: _valid_counts(c, f"{where}: per_category {str(cat)[:60]!r}")
            for cat, c in per.items()
        },
    }


def load(choice: str | None) -> dict[str, Any] | None:
    """The measurement an audit uses: ``bundled`` (default), ``none``, or a file (ours, or
    `qinglang evaluate --json`'s output). Returns {source, sha256, profiles} or None."""
    choice = choice or BUNDLED
    if choice == NONE:
        return None
    if choice == BUNDLED:
        raw = resources.files("qinglang").joinpath("data/detector_error.json").read_bytes()
        where = "qinglang/data/detector_error.json"
    else:
        path = Path(choice)
        try:
            if path.exists() and not path.is_file():  # a FIFO or a device: it may never end
                raise ConfigError(f"--detector-error {choice}: not a regular file")
            with open(path, "rb") as f:
                raw = f.read(8 * 2**20 + 1)
        except OSError as exc:
            raise ConfigError(
                f"--detector-error {choice}: cannot read it ({exc.strerror})"
            ) from exc
        if len(raw) > 8 * 2**20:
            raise ConfigError(f"--detector-error {choice}: over 8 MB; expected a small JSON file")
        where = f"--detector-error {choice}"
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"{where}: not JSON ({exc}); give `qinglang evaluate --json`'s output"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    if data.get("format") == DATA_FORMAT:
        profiles = data.get("profiles")
        if not isinstance(profiles, dict) or not profiles:
            raise ConfigError(f"{where}: no profiles")
        parsed = {
            str(k)[:40]: _profile(v, f"{where}: profile {str(k)[:40]}") for k, v in profiles.items()
        }
    elif isinstance(data.get("overall"), dict) and "true_positives" in data["overall"]:
        try:
            measured = counts_from_evaluation(data)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ConfigError(
                f"{where}: an evaluation without true_positives, predicted and support ({exc})"
            ) from exc
        on = {"kind": "labelled", "file": Path(choice).name}
        parsed = {"any": _profile({"measured_on": on, **measured}, where)}
    else:
        raise ConfigError(
            f"{where}: neither qinglang's detector-error data nor `qinglang evaluate --json` output"
        )
    return {"source": where, "sha256": hashlib.sha256(raw).hexdigest(), "profiles": parsed}


def pick(measurement: dict[str, Any] | None, has_signals: bool) -> dict[str, Any] | None:
    """The profile that applies to an input: the user's own, else tracker or log."""
    if measurement is None:
        return None
    profiles = measurement["profiles"]
    name = "any" if "any" in profiles else ("tracker" if has_signals else "log")
    if name not in profiles:
        return None
    return {
        "profile": name,
        "source": measurement["source"],
        "sha256": measurement["sha256"],
        **profiles[name],
    }


def ratio_draws(c: dict[str, int] | None, rng: np.random.Generator, n: int) -> np.ndarray:
    """n draws of precision / recall, each divided by the measured ratio (the ratio of the two
    posterior means): how far the detectors' error may lie from what was measured, as a factor
    around 1. The measured bias itself does not move the interval (the estimate stays inside
    it, and a settlement bound never crosses the estimate); the method section states it. 1
    where nothing was measured."""
    if not c or c["tp"] + c["fp"] == 0 or c["tp"] + c["fn"] == 0:
        return np.ones(n)
    a, fp, fn = c["tp"] + 0.5, c["fp"] + 0.5, c["fn"] + 0.5
    precision = rng.beta(a, fp, size=n)
    recall = rng.beta(a, fn, size=n)
    measured = (a / (a + fp)) / (a / (a + fn))
    return (precision / recall) / measured


def rates(c: dict[str, int]) -> dict[str, float | None]:
    """Point precision and recall of counts, for the report."""
    p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else None
    r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else None
    return {
        "precision": None if p is None else round(p, 4),
        "recall": None if r is None else round(r, 4),
    }


def describe(error: dict[str, Any] | None, lang: str) -> str:
    """The method section's sentence on the detector error the interval took in."""
    from qinglang.audit.i18n import t

    if error is None:
        return t("detector_error_none", lang)
    overall, on = error["overall"], error["measured_on"]
    if on["kind"] == "simulator":
        where = t("measured_simulator", lang).format(
            scale=f"{on['scale']:g}", seeds=", ".join(str(x) for x in on["seeds"])
        )
    else:
        where = t("measured_labelled", lang).format(file=on["file"])
    return t("detector_error_text", lang).format(
        profile=t(f"error_profile_{error['profile']}", lang),
        measured_on=where,
        precision=overall.get("precision"),
        recall=overall.get("recall"),
        tp=f"{overall['tp']:,}",
        fp=f"{overall['fp']:,}",
        fn=f"{overall['fn']:,}",
        source=error["source"],
    )
