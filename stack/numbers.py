"""Numbers as people type them into prompts, flags and `.env`."""

import math


def finite(text: str) -> float | None:
    """The number written, or None: `float()` also takes "inf" and "nan", which no price, budget or duration is."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
