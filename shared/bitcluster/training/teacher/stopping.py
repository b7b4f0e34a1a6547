"""When to stop pre-training: the epoch loss has stopped improving.

The rule compares the best loss of the last ``window`` epochs with the best loss before them and
stops when the relative gain is at most ``tolerance``. Taking minima, not single epochs, keeps one
noisy epoch from stopping (or prolonging) the run; a relative gain makes the rule blind to the
loss's scale, which grows with the number of pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class PlateauRule:
    """Stop when ``window`` epochs improved the best loss by at most ``tolerance`` (relative).

    Attributes
    ----------
    window : epochs over which progress is judged (>= 1)
    tolerance : smallest relative gain of the best loss over the window that keeps training going
    max_epochs : hard cap, whatever the loss does
    """

    window: int
    tolerance: float
    max_epochs: int

    def __post_init__(self) -> None:
        if self.window < 1 or self.max_epochs < 1 or not self.tolerance >= 0:
            raise ValueError(f"a plateau rule needs window >= 1, max_epochs >= 1 and tolerance >= 0, got {self}")

    def relative_gain(self, losses: Sequence[float]) -> float | None:
        """Relative gain of the best loss over the last ``window`` epochs; None while there is no window yet."""
        if len(losses) <= self.window:
            return None
        before = min(losses[:-self.window])
        recent = min(losses[-self.window:])
        return (before - recent) / max(abs(before), 1e-12)

    def stop_reason(self, losses: Sequence[float]) -> str | None:
        """Why training should stop after these epoch losses, or None to go on."""
        if losses and not math.isfinite(losses[-1]):
            return "non-finite loss"
        if len(losses) >= self.max_epochs:
            return f"max_epochs ({self.max_epochs})"
        gain = self.relative_gain(losses)
        if gain is not None and gain <= self.tolerance:
            return f"plateau (best loss improved {gain:.2%} over the last {self.window} epochs)"
        return None
