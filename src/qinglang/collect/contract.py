"""The beacon contract (contract.json beside this file), read once: what a valid beacon is, for
both collector engines. steps.py and tokens.py take their limits, reasons, verdicts, step names
and the token grammar from it; the Rust front generates its tables from the same file at build
time (front/build.rs) and checks the rest in `cargo test`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONTRACT: dict[str, Any] = json.loads(
    Path(__file__).with_name("contract.json").read_text(encoding="utf-8")
)
