"""Shared by the collector tests: a real `qinglang serve` process on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

QINGLANG = str(Path(sys.executable).with_name("qinglang"))
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`qinglang serve --db DB --port PORT` in its own process."""

    def __init__(self, db: Path, port: int | None = None, *extra: str) -> None:
        self.db = db
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(db.with_name(f"serve-{self.port}.log"), "ab")  # noqa: SIM115
        cmd = [QINGLANG, "serve", "--db", str(db), "--port", str(self.port), *extra]
        # its own process group, so that interrupt() is a terminal's Ctrl-C to it alone
        self.proc = subprocess.Popen(
            cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited: {db.with_name(f'serve-{self.port}.log')}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("collector did not start in 30 s")

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the whole process group, as a terminal sends it."""
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(30)
        finally:
            self.log.close()

    def log_text(self) -> str:
        """What the collector printed, whitespace folded (rich wraps long lines)."""
        if not self.log.closed:
            self.log.flush()
        return " ".join(Path(self.log.name).read_text(encoding="utf-8", errors="replace").split())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self.log.close()


def add_site(db: Path, name: str, *origins: str) -> str:
    args = [QINGLANG, "site", "add", name, "--db", str(db)]
    for o in origins:
        args += ["--origin", o]
    res = subprocess.run(args, capture_output=True, text=True, check=True)
    return res.stdout.strip()


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (the collector's rolling process)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
