"""Small campaigns the audit tests share."""

from __future__ import annotations

from pathlib import Path

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def week_of_two_sources(tmp_path: Path, people: int, bots: int) -> Path:
    """7 days x 2 sources (14 bootstrap cells): `people + day` browser UV and `day % 3 + bots`
    declared-library UV (curl) per cell, each UV one page view from its own IP."""
    lines = ["ts,ip,user_agent,url,source"]
    for day in range(1, 8):
        for src in ("a", "b"):
            for i in range(people + day):
                lines.append(
                    f"2024-01-0{day}T02:{i:02d}:00Z,1.{day}.{ord(src)}.{i},{CHROME},/p,{src}"
                )
            for i in range(day % 3 + bots):
                lines.append(
                    f"2024-01-0{day}T03:00:{i:02d}Z,2.{day}.{ord(src)}.{i},curl/8.{i},/p,{src}"
                )
    path = tmp_path / "in.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
