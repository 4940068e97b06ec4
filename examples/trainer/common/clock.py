"""The training deadline.

The validator stops the container when --hours-to-complete runs out and scores whatever is in the
output directory then, so the trainer must stop early enough to save. Every loop asks
`Deadline.passed()` between steps and ends cleanly when it says so.
"""

from __future__ import annotations

import time


class Deadline:
    """`settings` is either trainer's: it carries time_margin_minutes, time_margin_fraction and
    fallback_minutes."""

    def __init__(self, hours_to_complete: float, settings, now: float | None = None):
        self.start = time.monotonic() if now is None else now
        if hours_to_complete > 0:
            total = hours_to_complete * 3600.0
            margin = max(settings.time_margin_minutes * 60.0, settings.time_margin_fraction * total)
            # A margin larger than the whole budget would leave no training at all; keep half.
            self.budget = max(total - margin, total / 2)
        else:
            self.budget = settings.fallback_minutes * 60.0

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining(self) -> float:
        return self.budget - self.elapsed()

    def expire(self) -> None:
        """Ends the budget now (the container is being stopped): loops finish their step and save."""
        self.budget = 0.0

    def passed(self) -> bool:
        return self.remaining() <= 0
