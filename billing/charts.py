"""Server-rendered inline SVG line charts for the session page (no JavaScript, no CDN). Pure: no Django."""

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 200
PAD_L, PAD_R, PAD_T, PAD_B = 56, 16, 30, 28


@dataclass(frozen=True)
class Series:
    label: str
    unit: str
    points: list[tuple[datetime, Decimal]]
    color: str = "#1769d1"


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(v))
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= v:
            return step * magnitude
    return 10 * magnitude


def _fmt(v: float) -> str:
    return f"{v:.0f}" if v >= 10 or v == int(v) else f"{v:.2f}".rstrip("0").rstrip(".")


def line_chart(series: Series, *, start: datetime | None = None, end: datetime | None = None) -> str:
    """One series as an SVG line chart with a y axis in its unit and a time axis (UTC, HH:MM)."""
    pts = sorted(series.points, key=lambda p: p[0])
    title = f"{series.label} ({series.unit})"
    head = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
    )
    if not pts:
        return f'<p class="muted chart-empty">No {escape(series.label.lower())} readings.</p>'
    t0 = start or pts[0][0]
    t1 = end or pts[-1][0]
    span = max(1.0, (t1 - t0).total_seconds())
    ymax = _nice_max(max(float(v) for _, v in pts))
    plot_w, plot_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def x(t: datetime) -> float:
        return PAD_L + plot_w * max(0.0, min(1.0, (t - t0).total_seconds() / span))

    def y(v) -> float:
        return PAD_T + plot_h * (1 - max(0.0, float(v)) / ymax)

    parts = [head]
    for i in range(5):  # horizontal grid lines with y labels
        val = ymax * i / 4
        yy = y(val)
        parts.append(
            f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#dde3ea"/>'
        )
        parts.append(
            f'<text x="{PAD_L - 6}" y="{yy + 4:.1f}" text-anchor="end" font-size="11" fill="#66788a">{_fmt(val)}</text>'
        )
    for i in range(5):  # time labels
        tx = PAD_L + plot_w * i / 4
        t = t0 + (t1 - t0) * i / 4
        label = f"{t:%H:%M:%S}" if span < 600 else f"{t:%H:%M}"
        parts.append(
            f'<text x="{tx:.1f}" y="{HEIGHT - 8}" text-anchor="middle" font-size="11" fill="#66788a">{label}</text>'
        )
    coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)
    parts.append(f'<polyline fill="none" stroke="{series.color}" stroke-width="2" points="{coords}"/>')
    for t, v in pts[-1:]:
        parts.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3" fill="{series.color}"/>')
    parts.append(
        f'<text x="{PAD_L}" y="14" font-size="12" font-weight="600" fill="#1f2933">{escape(title)}</text></svg>'
    )
    return "".join(parts)
