"""Learning-rate and temperature schedules of the paper's section 4.2."""

from __future__ import annotations

import math


def paper_learning_rate(epoch: int, lr0: float = 1e-3, decay: float = 0.9, every: int = 10,
                        floor: float = 2e-4) -> float:
    """Adam's rate: ``lr0`` times ``decay`` every ``every`` epochs, never below ``floor``."""
    return max(floor, lr0 * decay ** (epoch // every))


def temperature(epoch: int, tau0: float = 1.0, rate: float = 0.05, tau_min: float = 0.5) -> float:
    """Gumbel-Softmax temperature, annealed as ``max(tau_min, tau0 * exp(-rate * epoch))`` (Jang et al.)."""
    return max(tau_min, tau0 * math.exp(-rate * epoch))
