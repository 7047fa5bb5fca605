"""Behaviour features computed in the engine (sessions, click entities), shared by detectors and training."""

from __future__ import annotations

from typing import Protocol

from qinglang.engine import Engine


class FeatureContext(Protocol):
    """What building features needs of a detector's context (detect.base.Context has it): the
    engine, the settings, which columns hold values, and the set of tables already built in this
    audit."""

    engine: Engine
    registered: set[str]

    def has(self, *columns: str) -> bool: ...

    def setting(self, name: str) -> float: ...
