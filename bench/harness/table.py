"""The one results table: a row per measurement, with the peer's value, the ratio and the goal."""
from dataclasses import dataclass

HEADER = ("measurement", "target", "value", "peer value", "ratio", "goal", "met?")


@dataclass
class Row:
    measurement: str
    target: str
    value: str
    peer: str = "—"
    ratio: str = "—"
    goal: str = "—"
    met: str = "—"
    failed: bool = False  # the measurement itself went wrong (errors, non-2xx): not a result


def met(ok):
    return "yes" if ok else "**no**"


def fail(row, why):
    """Marks a row as failed loudly: the number in it does not count."""
    row.failed = True
    row.met = f"**FAIL: {why}**"
    return row


def ratio(x):
    return f"{x:.2f}×" if x < 10 else f"{x:.1f}×" if x < 100 else f"{x:.0f}×"


def render(rows):
    cells = [HEADER] + [(r.measurement, r.target, r.value, r.peer, r.ratio, r.goal, r.met)
                        for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    right = {2, 3, 4}

    def line(cols):
        return "| " + " | ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cols, widths))) + " |"

    rule = "| " + " | ".join(
        ("-" * (w - 1) + ":") if i in right else "-" * w for i, w in enumerate(widths)) + " |"
    return "\n".join([line(HEADER), rule] + [line(c) for c in cells[1:]])
