"""Login rate limiting: failed attempts per account and per client IP in a sliding window.

Counted in the `qinglang ui` process's memory (one process serves the dashboard): a restart
forgets them, which costs an attacker a restart they cannot cause. Memory is bounded: at most
`max_keys` keys are kept, the oldest dropped first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

PER_ACCOUNT = 5  # failures per account per window
PER_IP = 20  # failures per client address per window
WINDOW_S = 15 * 60.0


class Limiter:
    def __init__(
        self,
        per_account: int = PER_ACCOUNT,
        per_ip: int = PER_IP,
        window_s: float = WINDOW_S,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = {"user": per_account, "ip": per_ip}
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
            for kind, value in (("user", user.lower()), ("ip", ip)):
                q = self._recent((kind, value), now)
                if len(q) >= self.limits[kind]:
                    wait = max(wait, q[0] + self.window_s - now)
        return wait

    def failed(self, user: str, ip: str) -> None:
        now = self.clock()
        with self._lock:
            for key in (("user", user.lower()), ("ip", ip)):
                q = self._fails.pop(key, None) or deque(maxlen=64)
                q.append(now)
                self._fails[key] = q
            while len(self._fails) > self.max_keys:
                self._fails.popitem(last=False)

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._fails.pop(("user", user.lower()), None)
