"""Rates and latencies over a sliding window, so the overlay shows how things are going now."""
from collections import deque
from typing import Deque, Tuple

WINDOW_S = 2.0


class RateMeter:
    """Events per second over the last ``window`` seconds (needs two events to say anything)."""

    def __init__(self, window: float = WINDOW_S):
        self.window = window
        self._times: Deque[float] = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)
        self._trim(now)

    def rate(self, now: float) -> float:
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / max(self._times[-1] - self._times[0], 1e-9)

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self.window:
            self._times.popleft()


class MeanMeter:
    """Mean of the values recorded in the last ``window`` seconds, and of all of them."""

    def __init__(self, window: float = WINDOW_S):
        self.window = window
        self._recent: Deque[Tuple[float, float]] = deque()
        self._total = 0.0
        self._count = 0

    def add(self, now: float, value: float) -> None:
        self._recent.append((now, value))
        self._total += value
        self._count += 1
        while self._recent[0][0] < now - self.window:
            self._recent.popleft()

    def recent(self) -> float:
        return sum(v for _, v in self._recent) / len(self._recent) if self._recent else 0.0

    def overall(self) -> float:
        return self._total / self._count if self._count else 0.0
