"""`qinglang verify DIR`: is this audit what it says it is, and does redoing it give the same?

1. seal.json: the SHA-256 (and, when signed, the Ed25519 signature) of manifest.json and
   report.html, and of report.pdf when the audit printed one (a report.pdf the seal does not
   list is not the audit's: a problem); with ``--key PUB`` the signatures must be by that key;
2. manifest.json: the SHA-256 of audit.json, labels.parquet, rejected.csv and of every input
   (found where the audit read it), and the headline figures as audit.json has them;
3. ``--rerun``: the audit again, from the options recorded in audit.json, into a temporary
   directory; every figure and every label must be the same (scores to 1e-9: DuckDB sums in
   parallel, so a float's last bit may differ between runs).

Each check that fails is named (the file, the figure, the first label that differs).
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qinglang.audit.record import (
    FIGURES,
    MANIFEST,
    SEAL,
    SEALED,
    SEALED_IF_PRINTED,
    load_public_key,
    public_key_info,
    sha256_file,
)
from qinglang.errors import InputError


@dataclass
class Verdict:
    checked: list[str] = field(default_factory=list)  # what held
    problems: list[str] = field(default_factory=list)  # what did not

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(out_dir: Path, key: Path | None = None, rerun: bool = False) -> Verdict:
    out_dir = Path(out_dir)
    if not (out_dir / "audit.json").is_file():
        raise InputError(str(out_dir), "not an audit directory (no audit.json)", usage=True)
    v = Verdict()
    if not (out_dir / SEAL).is_file() or not (out_dir / MANIFEST).is_file():
        v.problems.append(f"{SEAL} or {MANIFEST} is missing: the audit cannot be checked")
        return v
    seal = _json(out_dir / SEAL, v)
    manifest = _json(out_dir / MANIFEST, v)
    if seal is None or manifest is None:
        return v
    _check_seal(out_dir, seal, manifest, key, v)
    if any(p.startswith(MANIFEST) for p in v.problems):
        return v  # a manifest that is not the sealed one says nothing about the other files
    try:
        _check_manifest(out_dir, manifest, v)
    except (KeyError, TypeError, AttributeError) as exc:
        v.problems.append(f"{MANIFEST} is not a qinglang manifest ({exc!r} missing or malformed)")
    if rerun and v.ok:
        _rerun(out_dir, v)
    return v


def _json(path: Path, v: Verdict) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        v.problems.append(f"{path.name} cannot be read as JSON: {exc}")
        return None


def _check_seal(out_dir: Path, seal: dict, manifest: dict, key: Path | None, v: Verdict) -> None:
    signer = manifest.get("signer")
    public = None
    if key is not None:
        public = load_public_key(key)
        given = public_key_info(public)["fingerprint"]
        if not signer:
            v.problems.append(f"the audit is not signed, but --key {key} was given")
        elif signer.get("fingerprint") != given:
            v.problems.append(
                f"signed by {signer.get('fingerprint')}, not by the key given ({given})"
            )
    elif signer:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(signer["public_key"]))
    printed = []
    for name in SEALED_IF_PRINTED:
        if name in seal:
            printed.append(name)
        elif (out_dir / name).exists():
            v.problems.append(f"{name} is not in {SEAL}: it is not this audit's")
    for name in (*SEALED, *printed):
        entry = seal.get(name) or {}
        path = out_dir / name
        if not path.is_file():
            v.problems.append(f"{name} is missing")
            continue
        body = path.read_bytes()
        if hashlib.sha256(body).hexdigest() != entry.get("sha256"):
            v.problems.append(f"{name} changed: its SHA-256 is not the one in {SEAL}")
            continue
        if public is not None:
            from cryptography.exceptions import InvalidSignature

            try:
                public.verify(base64.b64decode(entry.get("signature") or ""), body)
            except (InvalidSignature, ValueError):
                v.problems.append(f"{name}: the signature does not verify")
                continue
        v.checked.append(f"{name} sealed" + (" and signed" if public is not None else ""))
    if signer and key is None:
        v.checked.append(
            f"signed by {signer.get('fingerprint')} (the key in the manifest: give --key with "
            "the auditor's public key to check it is theirs)"
        )


def _check_manifest(out_dir: Path, manifest: dict, v: Verdict) -> None:
    for name, digest in (manifest.get("outputs") or {}).items():
        path = out_dir / name
        if not path.is_file():
            v.problems.append(f"{name} is missing")
        elif sha256_file(path) != digest:
            v.problems.append(f"{name} changed: its SHA-256 is not the one in {MANIFEST}")
        else:
            v.checked.append(f"{name} as recorded")
    for item in manifest.get("inputs") or []:
        path = Path(item["path"])
        if not path.is_file():
            v.problems.append(f"input {path} not found (recorded SHA-256 {item['sha256'][:16]}…)")
        elif path.stat().st_size != item["bytes"] or sha256_file(path) != item["sha256"]:
            v.problems.append(f"input {path} changed: its SHA-256 is not the one recorded")
        else:
            v.checked.append(f"input {path} as recorded")
    facts = _json(out_dir / "audit.json", v)  # changed bytes may not even parse: a problem
    if not isinstance(facts, dict):
        return
    for name, value in (manifest.get("figures") or {}).items():
        if facts.get(name) != value:
            v.problems.append(f"audit.json's {name} differ from the manifest's")


def _rerun(out_dir: Path, v: Verdict) -> None:
    from qinglang.audit.run import options_from_record, run_audit
    from qinglang.errors import ConfigError

    facts = json.loads((out_dir / "audit.json").read_text(encoding="utf-8"))
    record = facts.get("record") or {}
    try:
        options = options_from_record(record.get("options") or {})
    except ConfigError as exc:  # recorded by another qinglang, or written by hand
        v.problems.append(
            f"re-run: this qinglang does not take the options audit.json records: {exc}"
        )
        return
    inputs = [Path(i["path"]) for i in record.get("inputs") or []]
    with tempfile.TemporaryDirectory(prefix="qinglang-verify-") as scratch:
        again = run_audit(inputs, Path(scratch) / "out", options)
        for name in FIGURES:
            if _plain(again.get(name)) != _plain(facts.get(name)):
                v.problems.append(
                    f"re-run: {name} differ ({_first_difference(facts.get(name), again.get(name))})"
                )
        difference = _labels_difference(
            out_dir / "labels.parquet", Path(scratch) / "out" / "labels.parquet"
        )
        if difference:
            v.problems.append(f"re-run: labels differ: {difference}")
    if v.ok:
        v.checked.append("re-run: every figure and every label the same")


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _first_difference(a: Any, b: Any, where: str = "") -> str:
    a, b = _plain(a), _plain(b)
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{where}.{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{where}[{i}]")
    return (
        f"{where.lstrip('.') or 'value'}: recorded {json.dumps(a)[:80]}, now {json.dumps(b)[:80]}"
    )


def _labels_difference(recorded: Path, again: Path) -> str | None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    a, b = pq.read_table(recorded), pq.read_table(again)
    if a.num_rows != b.num_rows:
        return f"{a.num_rows:,} rows recorded, {b.num_rows:,} now"
    for name in ("event_id", "verdict", "category", "reasons"):
        x, y = a.column(name), b.column(name)
        if name == "reasons":  # lists compare as their joined text
            x, y = pc.binary_join(x, "\x1f"), pc.binary_join(y, "\x1f")
        same = pc.or_kleene(pc.equal(x, y), pc.and_(pc.is_null(x), pc.is_null(y)))
        if not pc.all(pc.fill_null(same, False)).as_py():
            i = pc.index(same, False).as_py()
            eid = a.column("event_id")[i].as_py()
            return f"event {eid!r}: {name} {a.column(name)[i].as_py()!r} recorded, {b.column(name)[i].as_py()!r} now"
    delta = pc.max(pc.abs(pc.subtract(a.column("score"), b.column("score")))).as_py() or 0.0
    if delta > 1e-9:
        return f"scores differ by up to {delta:g}"
    return None
