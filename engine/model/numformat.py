"""The default text of a number that has none (a pure number computed by an expression)."""

from __future__ import annotations

import math


def format_default(x: float) -> str:
    """Render like the engine's automatic format: integers plainly, others with up to 14 significant
    digits and no exponent for ordinary magnitudes."""
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    text = f"{x:.14g}"
    if "e" in text:
        mantissa, exp = text.split("e")
        e = int(exp)
        if -7 < e < 15:
            text = f"{x:.{max(0, 14 - e - 1)}f}".rstrip("0").rstrip(".")
        else:
            text = f"{mantissa}e{'+' if e > 0 else '-'}{abs(e):03d}"
    return text
