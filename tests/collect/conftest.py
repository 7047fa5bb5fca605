"""Every collector test that starts `qinglang serve` runs once per engine: the Python ASGI app
(the reference) and the Rust front (front/). CI builds the front, so there it must be present."""

from __future__ import annotations

import os

import pytest

from qinglang.collect.front import find_front


@pytest.fixture(scope="module", params=["python", "rust"])
def engine(request):
    if request.param == "rust" and find_front() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must build the Rust front: qinglang-front is not on PATH")
        pytest.skip("qinglang-front not built (see README, 'Collector engines')")
    before = os.environ.get("QINGLANG_ENGINE")
    os.environ["QINGLANG_ENGINE"] = request.param
    yield request.param
    if before is None:
        os.environ.pop("QINGLANG_ENGINE", None)
    else:
        os.environ["QINGLANG_ENGINE"] = before
