"""Rebuild tests/fixtures/ua/: labelled user agents from the public test fixtures of the UA
libraries qinglang uses (see tests/fixtures/ua/PROVENANCE.md).

    .venv/bin/pip install device-detector crawler-user-agents   # (the dev extra has them)
    .venv/bin/python scripts/ua_testset.py

Declared bots (label `bot`):
- crawlerdetect's tests/fixtures/user_agent/crawlers.txt (its sdist from PyPI, `pip download`);
- device-detector's tests/fixtures/upstream/bots.yml (Matomo's fixture, shipped in the package);
- crawler-user-agents' `instances` (examples given with each pattern).
Real browsers (label `browser`):
- device-detector's device fixtures (desktop, smartphone, tablet, feature phone, TV, console,
  car, wearable...) whose client is a browser (`client.type: browser`), no bot;
- crawlerdetect's tests/fixtures/user_agent/devices.txt, a deterministic sample of SAMPLE_DEVICES
  (the file has 165k lines; a sample keeps the fixture small enough for git).
A UA that two sources label differently is left out (counted in PROVENANCE.md). Each row
carries `split`: `tune` or `held` by a hash of the UA; only `tune` rows were looked at while
qinglang's shape rules were written (the test reports both halves).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ua"
SAMPLE_DEVICES = 20_000
MAX_LEN = 1024  # longer fixture strings (a few padded ones) say nothing more about a class


def _split(ua: str) -> str:
    return "tune" if hashlib.sha256(ua.encode()).digest()[0] % 2 == 0 else "held"


def crawlerdetect_fixtures(tmp: Path) -> tuple[list[str], list[str], str]:
    version = metadata.version("crawlerdetect")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"crawlerdetect=={version}",
            "-d",
            str(tmp),
        ],
        check=True,
    )
    sdist = next(tmp.glob("crawlerdetect-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp, filter="data")
    base = next(tmp.glob("crawlerdetect-*/tests/fixtures/user_agent"))
    read = lambda name: [  # noqa: E731
        line.strip() for line in (base / name).read_text("utf-8", "replace").splitlines()
    ]
    crawlers = [u for u in read("crawlers.txt") if u]
    devices = sorted({u for u in read("devices.txt") if u})
    devices.sort(key=lambda u: hashlib.sha256(u.encode()).hexdigest())
    return crawlers, devices[:SAMPLE_DEVICES], version


def device_detector_fixtures() -> tuple[list[str], list[str], str]:
    import device_detector
    import yaml_rs

    root = Path(device_detector.__file__).parent / "tests" / "fixtures" / "upstream"
    bots = [str(r["user_agent"]) for r in yaml_rs.loads((root / "bots.yml").read_text("utf-8"))]
    browsers = []
    for path in sorted(root.glob("*.yml")):
        if path.name in ("bots.yml",) or path.name.startswith("clienthints"):
            continue
        for r in yaml_rs.loads(path.read_text("utf-8")) or []:
            client = r.get("client") or {}
            if client.get("type") == "browser" and not r.get("bot"):
                browsers.append(str(r["user_agent"]))
    return bots, browsers, metadata.version("device-detector")


def crawler_user_agents_fixtures() -> tuple[list[str], str]:
    import crawleruseragents

    path = Path(crawleruseragents.__file__).parent / "crawler-user-agents.json"
    rows = json.loads(path.read_text("utf-8"))
    return [i for r in rows for i in r.get("instances") or []], metadata.version(
        "crawler-user-agents"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cd_bots, cd_devices, cd_version = crawlerdetect_fixtures(Path(tmp))
    dd_bots, dd_browsers, dd_version = device_detector_fixtures()
    cua_bots, cua_version = crawler_user_agents_fixtures()
    labelled: dict[str, dict[str, set[str]]] = {}
    for label, source, uas in (
        ("bot", "crawlerdetect", cd_bots),
        ("bot", "device-detector", dd_bots),
        ("bot", "crawler-user-agents", cua_bots),
        ("browser", "device-detector", dd_browsers),
        ("browser", "crawlerdetect", cd_devices),
    ):
        for ua in uas:
            ua = ua.strip()
            if ua and len(ua) <= MAX_LEN and "\t" not in ua and "\n" not in ua:
                labelled.setdefault(ua, {}).setdefault(label, set()).add(source)
    conflicts = sorted(ua for ua, labels in labelled.items() if len(labels) > 1)
    rows = [
        (label, ",".join(sorted(sources)), _split(ua), ua)
        for ua, labels in sorted(labelled.items())
        if len(labels) == 1
        for label, sources in labels.items()
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(OUT / "labelled.tsv.gz", "wb", mtime=0) as f:
        f.write(b"label\tsources\tsplit\tuser_agent\n")
        for row in rows:
            f.write(("\t".join(row) + "\n").encode("utf-8"))
    counts: dict[str, int] = {}
    for label, sources, split, _ in rows:
        for source in sources.split(","):
            counts[f"{label} {source}"] = counts.get(f"{label} {source}", 0) + 1
        counts[f"{label} {split}"] = counts.get(f"{label} {split}", 0) + 1
    meta = {
        "versions": {
            "crawlerdetect": cd_version,
            "device-detector": dd_version,
            "crawler-user-agents": cua_version,
        },
        "rows": len(rows),
        "counts": dict(sorted(counts.items())),
        "conflicts_left_out": len(conflicts),
        "crawlerdetect_devices_sampled": SAMPLE_DEVICES,
    }
    (OUT / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
