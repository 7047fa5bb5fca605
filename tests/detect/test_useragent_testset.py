"""Declared-bot recall and real-browser false positives on the labelled UA test set
(tests/fixtures/ua/, built from the UA libraries' own public test fixtures by
scripts/ua_testset.py), for qinglang and, in the same run, its peers: crawlerdetect alone,
device-detector alone (its bot detection) and their union (issue 14).

Each row of the set carries a split: `tune` rows were looked at while qinglang's combination
rules were written, `held` rows were not; the table reports both and the whole.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from qinglang.detect.useragent import classify

TESTSET = Path(__file__).resolve().parent.parent / "fixtures" / "ua" / "labelled.tsv.gz"
MIN_RECALL = 0.97
MAX_FP = 0.003


def load() -> list[tuple[str, str, str]]:
    """(label, split, user agent) rows."""
    with gzip.open(TESTSET, "rt", encoding="utf-8") as f:
        next(f)
        rows = [line.rstrip("\n").split("\t") for line in f]
    return [(label, split, ua) for label, _, split, ua in rows]


def score(
    rows: list[tuple[str, str, str]], flagged: list[bool], split: str | None = None
) -> tuple[float, float, int, int]:
    """(recall on bots, false-positive rate on browsers, bots, browsers)."""
    bots = browsers = caught = wrong = 0
    for (label, row_split, _), hit in zip(rows, flagged, strict=True):
        if split and row_split != split:
            continue
        if label == "bot":
            bots += 1
            caught += hit
        else:
            browsers += 1
            wrong += hit
    return caught / bots, wrong / browsers, bots, browsers


def peers() -> dict[str, Callable[[str], bool]]:
    from crawlerdetect import CrawlerDetect
    from device_detector.device_detector import Bot

    crawlerdetect = CrawlerDetect()
    return {
        "crawlerdetect": lambda ua: bool(crawlerdetect.isCrawler(ua[:512])),
        "device-detector": lambda ua: bool(Bot(ua[:512], None).parse().is_bot()),
    }


def table() -> tuple[str, dict[str, tuple[float, float]]]:
    rows = load()
    uas = [ua for _, _, ua in rows]
    verdicts = {"qinglang": [classify(ua)["kind"] is not None for ua in uas]}
    for name, is_bot in peers().items():
        verdicts[name] = [is_bot(ua) for ua in uas]
    verdicts["crawlerdetect ∪ device-detector"] = [
        a or b for a, b in zip(verdicts["crawlerdetect"], verdicts["device-detector"], strict=True)
    ]
    recall_all, fp_all, bots, browsers = score(rows, verdicts["qinglang"])
    lines = [
        f"UA test set: {bots:,} declared bots, {browsers:,} real browsers",
        "| classifier | bot recall | browser FP | recall (held-out half) | FP (held-out half) |",
        "|---|---|---|---|---|",
    ]
    whole = {}
    for name, flagged in verdicts.items():
        recall, fp, _, _ = score(rows, flagged)
        held_recall, held_fp, _, _ = score(rows, flagged, "held")
        whole[name] = (recall, fp)
        lines.append(f"| {name} | {recall:.2%} | {fp:.2%} | {held_recall:.2%} | {held_fp:.2%} |")
    assert (recall_all, fp_all) == whole["qinglang"]
    return "\n".join(lines), whole


@pytest.mark.skipif(not TESTSET.exists(), reason="no UA test set (scripts/ua_testset.py)")
def test_qinglang_catches_declared_bots_spares_browsers_and_beats_its_peers():
    pytest.importorskip("device_detector")
    text, whole = table()
    print("\n" + text)
    recall, fp = whole["qinglang"]
    assert recall >= MIN_RECALL
    assert fp <= MAX_FP
    for peer in ("crawlerdetect", "device-detector", "crawlerdetect ∪ device-detector"):
        peer_recall, _ = whole[peer]
        assert recall > peer_recall, peer


if __name__ == "__main__":
    print(table()[0])
