"""Login rate limiting: failed attempts in a sliding window, counted per (account, client
address) pair, per client address, and per account from anywhere under a higher ceiling. A
stranger's failures block their own address and, only past the ceiling, the account: its owner,
from another address, still signs in until then.

Counted in the `qinglang ui` process's memory (one process serves the dashboard): a restart
forgets them, which costs an attacker a restart they cannot cause. Memory is bounded: at most
`max_keys` keys are kept, the oldest dropped first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

PER_ACCOUNT = 5  # failures per account from one client address per window
PER_IP = 20  # failures per client address per window
PER_ACCOUNT_ANYWHERE = 100  # failures per account from all addresses per window
WINDOW_S = 15 * 60.0


class Limiter:
    def __init__(
        self,
        per_account: int = PER_ACCOUNT,
        per_ip: int = PER_IP,
        per_account_anywhere: int = PER_ACCOUNT_ANYWHERE,
        window_s: float = WINDOW_S,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = {"pair": per_account, "ip": per_ip, "user": per_account_anywhere}
        self.window_s = window_s
        self.max_keys = max_keys
        self.clock = clock
        self._fails: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._fails.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def blocked(self, user: str, ip: str) -> float:
        """Seconds until another attempt for this account from this address is allowed; 0 now."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for kind, value in self._keys(user, ip):
                q = self._recent((kind, value), now)
                if len(q) >= self.limits[kind]:
                    wait = max(wait, q[0] + self.window_s - now)
        return wait

    def failed(self, user: str, ip: str) -> None:
        now = self.clock()
        with self._lock:
            for key in self._keys(user, ip):
                q = self._fails.pop(key, None) or deque(maxlen=max(self.limits.values()))
                q.append(now)
                self._fails[key] = q
            while len(self._fails) > self.max_keys:
                self._fails.popitem(last=False)

    def succeeded(self, user: str, ip: str) -> None:
        with self._lock:
            self._fails.pop(("pair", f"{user.lower()}\0{ip}"), None)

    @staticmethod
    def _keys(user: str, ip: str) -> tuple[tuple[str, str], ...]:
        name = user.lower()
        return (("pair", f"{name}\0{ip}"), ("ip", ip), ("user", name))
