"""Measure the detectors' own error on the simulator and write it where audits read it.

    python scripts/measure_detector_error.py [--scale 0.01] [--seeds 1 2 3]

For each seed it simulates case2017 twice over: as the tracker's events (Parquet, every client
signal) and as the nginx combined log a buyer would hold (`--access-log`), runs
`qinglang evaluate --json` on each and sums the true positives, predictions and support per
category. The result goes to ``src/qinglang/data/detector_error.json``; an audit uses the
``tracker`` measurement when its input carries the tracker's signals and the ``log`` one when it
does not (see ``qinglang.audit.detector_error``). Run it again whenever a detector changes: the
slow test ``tests/audit/test_detector_error.py`` fails when the bundled figures no longer match
a fresh measurement of seed 1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from qinglang import __version__
from qinglang.audit.detector_error import DATA_FORMAT, counts_from_evaluation, merge_counts

OUT = Path(__file__).resolve().parents[1] / "src" / "qinglang" / "data" / "detector_error.json"


def qinglang(*args: str) -> str:
    exe = Path(sys.executable).with_name("qinglang")  # the venv's command
    return subprocess.run([str(exe), *args], check=True, capture_output=True, text=True).stdout


def measure(scale: float, seeds: list[int]) -> dict:
    tracker, log = [], []
    with tempfile.TemporaryDirectory(prefix="qinglang-error-") as tmp:
        for seed in seeds:
            data, access = Path(tmp) / f"s{seed}.parquet", Path(tmp) / f"s{seed}.log"
            qinglang(
                "simulate", "case2017", "--scale", str(scale), "--seed", str(seed),
                "--out", str(data), "--access-log", str(access),
            )  # fmt: skip
            tracker.append(
                counts_from_evaluation(json.loads(qinglang("evaluate", str(data), "--json")))
            )
            log.append(
                counts_from_evaluation(
                    json.loads(
                        qinglang(
                            "evaluate",
                            str(access),
                            "--format",
                            "nginx",
                            "--json",
                            "--truth",
                            f"{access}.truth.csv",
                        )  # fmt: skip
                    )
                )
            )
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    on = {"kind": "simulator", "scale": scale, "seeds": seeds}
    return {
        "format": DATA_FORMAT,
        "qinglang": __version__,
        "date": when,
        "profiles": {
            # the tracker's events with every client signal
            "tracker": {"measured_on": on, **merge_counts(tracker)},
            # the same traffic as an nginx combined log (no tracker signals)
            "log": {"measured_on": on, **merge_counts(log)},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    result = measure(args.scale, args.seeds)
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
