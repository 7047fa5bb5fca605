"""A user's labels (LABELS.csv) for training: which events or visitors are valid or invalid.

    event_id,label                 visitor_id,label
    e0001,valid                    v17,invalid
    e0002,invalid                  v18,sivt.farm
    e0003,givt.crawler             v19,VALID

The header row is required. It names exactly one key column, `event_id` or `visitor_id`, and a
`label` column; other columns are ignored. A label is `valid`, `invalid` (any case), or a category
(`givt.*` or `sivt.*`, kept lower-cased), which means invalid. Blank lines are skipped, values are
trimmed. A key given twice with the same label counts once; with conflicting labels it is an
error (`invalid` and a category agree: the category is kept).

Every error is one ConfigError line naming the file, the line and what to do.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from qinglang.errors import ConfigError

KEYS = ("event_id", "visitor_id")
CATEGORY_PREFIXES = ("givt.", "sivt.")
SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("invalid", pa.bool_(), nullable=False),
        pa.field("category", pa.string()),
    ]
)
HOW = "the header is `event_id,label` or `visitor_id,label`"
LABELS_ARE = "use valid, invalid, or a category starting givt. or sivt. (e.g. sivt.farm)"


@dataclass
class LabelSet:
    path: str
    key_kind: str  # "event_id" | "visitor_id"
    table: pa.Table  # key: string, invalid: bool, category: string (null when none given)
    n_valid: int
    n_invalid: int
    n_duplicates: int = 0  # repeated rows with the same label, counted once
    categories: dict[str, int] = field(default_factory=dict)

    @property
    def n_labels(self) -> int:
        return self.n_valid + self.n_invalid


def _label(value: str) -> tuple[bool, str | None] | None:
    """(invalid, category) or None when the value is not a label."""
    low = value.strip().lower()
    if low == "valid":
        return False, None
    if low == "invalid":
        return True, None
    if low.startswith(CATEGORY_PREFIXES) and len(low) > 5 and not any(c.isspace() for c in low):
        return True, low
    return None


def _lines(numbers: list[int], limit: int = 5) -> str:
    """'line 7' or 'lines 3, 5, 6, 7, 8, ...'."""
    shown = ", ".join(str(n) for n in numbers[:limit])
    word = "line" if len(numbers) == 1 else "lines"
    return f"{word} {shown}" + (", ..." if len(numbers) > limit else "")


def read_labels(path: str | Path) -> LabelSet:
    """Read and check a LABELS.csv; ConfigError (one line: file, line, what to do) if it is bad."""
    name = str(path)

    def bad(what: str) -> ConfigError:
        return ConfigError(f"{name}: {what}")

    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise bad(f"no such labels file; write a CSV where {HOW}") from None
    except OSError as exc:
        raise bad(f"cannot read the labels file: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise bad(f"line {line}: not UTF-8 text; save the labels as a UTF-8 CSV") from None
    if not text.strip():
        raise bad(f"empty file; {HOW}, then one row per labelled key")

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    header_line = 0
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                header, header_line = [c.strip().lower() for c in row], reader.line_num
                break
        assert header is not None  # the text is not blank
        keys = [c for c in header if c in KEYS]
        if not keys:
            raise bad(
                f"line {header_line}: no key column in the header ({','.join(header)}); {HOW}"
            )
        if len(keys) > 1:
            raise bad(
                f"line {header_line}: the header has both event_id and visitor_id; keep one "
                "key column (labels are per event or per visitor, not both)"
            )
        if "label" not in header:
            raise bad(f"line {header_line}: no `label` column in the header; {HOW}")
        repeated = sorted({c for c in header if c and header.count(c) > 1})
        if repeated:
            raise bad(f"line {header_line}: the header repeats {', '.join(repeated)}; keep one")
        key_kind = keys[0]
        ki, li = header.index(key_kind), header.index("label")

        seen: dict[str, tuple[bool, str | None, str, int]] = {}
        unknown: list[int] = []
        unknown_first = ""
        no_key: list[int] = []
        conflicts: list[str] = []
        n_conflicts = 0
        duplicates = 0
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            line = reader.line_num
            key = row[ki].strip() if ki < len(row) else ""
            value = row[li].strip() if li < len(row) else ""
            if not key:
                no_key.append(line)
                continue
            parsed = _label(value)
            if parsed is None:
                if not unknown:
                    unknown_first = value
                unknown.append(line)
                continue
            invalid, category = parsed
            before = seen.get(key)
            if before is None:
                seen[key] = (invalid, category, value, line)
                continue
            b_invalid, b_category, b_value, b_line = before
            if b_invalid == invalid and (b_category == category or None in (b_category, category)):
                duplicates += 1
                if category and not b_category:
                    seen[key] = (invalid, category, value, b_line)
                continue
            n_conflicts += 1
            if len(conflicts) < 3:
                conflicts.append(
                    f"{key_kind} {key!r} is {b_value!r} on line {b_line} and {value!r} on line {line}"
                )
    except csv.Error as exc:
        raise bad(f"line {reader.line_num}: not valid CSV ({exc}); {HOW}") from None

    if no_key:
        raise bad(
            f"{len(no_key)} row(s) without a {key_kind} ({_lines(no_key)}); "
            "give every row a key or delete it"
        )
    if unknown:
        raise bad(
            f"{len(unknown)} row(s) with an unknown label ({_lines(unknown)}; "
            f"the first is {unknown_first!r}); {LABELS_ARE}"
        )
    if n_conflicts:
        raise bad(
            f"{n_conflicts} key(s) labelled twice with different labels ({'; '.join(conflicts)}"
            f"{'; ...' if n_conflicts > len(conflicts) else ''}); keep one label per key"
        )
    if not seen:
        raise bad(f"line {header_line}: a header but no labelled rows; add one row per key")

    keys_out = list(seen)
    invalid_out = [seen[k][0] for k in keys_out]
    category_out = [seen[k][1] for k in keys_out]
    table = pa.Table.from_arrays(
        [
            pa.array(keys_out, pa.string()),
            pa.array(invalid_out),
            pa.array(category_out, pa.string()),
        ],
        schema=SCHEMA,
    )
    categories: dict[str, int] = {}
    for c in category_out:
        if c:
            categories[c] = categories.get(c, 0) + 1
    n_invalid = sum(invalid_out)
    return LabelSet(
        path=name,
        key_kind=key_kind,
        table=table,
        n_valid=len(keys_out) - n_invalid,
        n_invalid=n_invalid,
        n_duplicates=duplicates,
        categories=dict(sorted(categories.items())),
    )


def match_report(
    n_labels: int, n_matched: int, key_kind: str, path: str = "labels.csv"
) -> str | None:
    """After joining labels to the input: ConfigError when no key matched, a warning text when
    fewer than half did, else None."""
    if n_labels and n_matched == 0:
        raise ConfigError(
            f"{path}: none of its {n_labels:,} {key_kind} keys appear in the input; check that the "
            f"labels belong to this input and that its {key_kind} values are the input's "
            "(same spelling and case)"
        )
    if n_labels and n_matched * 2 < n_labels:
        return (
            f"{path}: only {n_matched:,} of its {n_labels:,} {key_kind} keys "
            f"({n_matched / n_labels:.0%}) appear in the input; training uses the matched ones only"
        )
    return None


def align(
    labels: LabelSet, keys: pa.Array | pa.ChunkedArray
) -> tuple[np.ndarray, np.ndarray, str | None]:
    """For each input key: matched and invalid (boolean arrays; invalid is False where unmatched),
    and `match_report`'s warning. Raises, as it does, when no label key is in `keys`."""
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    keys = pc.cast(keys, pa.string())
    index = pc.index_in(keys, value_set=labels.table.column("key"))
    matched = index.is_valid().to_numpy(zero_copy_only=False)
    positions = index.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    by_label = labels.table.column("invalid").to_numpy()
    invalid = matched & by_label[positions] if len(by_label) else np.zeros(len(keys), dtype=bool)
    n_matched = len(np.unique(positions[matched]))
    warning = match_report(labels.n_labels, n_matched, labels.key_kind, labels.path)
    return matched, invalid.astype(bool), warning
