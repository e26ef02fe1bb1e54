"""Small inline-SVG charts, so the report is one self-contained file that opens offline.

Each function returns an <svg> string; every chart draws at least its axes, and its data marks carry
class="mark" so a browser test can count them.
"""

from __future__ import annotations

import html
import math

W, H, PAD = 460, 260, 44
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
BAND = "#9e9e9e"
MARKERS = ["circle", "square", "triangle", "diamond", "triangle-down"]  # with COLORS: 40 distinct series


def style(k: int) -> tuple[str, str]:
    """Series k's (colour, marker): colour and marker cycle with coprime lengths (8, 5), so the first 40
    series all differ, and two series of one colour never share a marker."""
    return COLORS[k % len(COLORS)], MARKERS[k % len(MARKERS)]


def marker(shape: str, x: float, y: float, r: float, color: str, cls: str = "mark", inner: str = "") -> str:
    """A data mark of the given shape centred on (x, y)."""
    if shape == "circle":
        return f"<circle class='{cls}' cx='{x:.1f}' cy='{y:.1f}' r='{r}' fill='{color}'>{inner}</circle>"
    if shape == "square":
        return (f"<rect class='{cls}' x='{x - r:.1f}' y='{y - r:.1f}' width='{2 * r}' height='{2 * r}' "
                f"fill='{color}'>{inner}</rect>")
    pts = {"triangle": [(0, -1.2), (1.1, 0.9), (-1.1, 0.9)], "triangle-down": [(0, 1.2), (1.1, -0.9), (-1.1, -0.9)],
           "diamond": [(0, -1.3), (1.3, 0), (0, 1.3), (-1.3, 0)]}[shape]
    points = " ".join(f"{x + dx * r:.1f},{y + dy * r:.1f}" for dx, dy in pts)
    return f"<polygon class='{cls}' points='{points}' fill='{color}'>{inner}</polygon>"


def _esc(s: object) -> str:
    return html.escape(str(s))


def _range(values: list[float]) -> tuple[float, float]:
    vals = [v for v in values if v is not None and math.isfinite(v)] or [0.0, 1.0]
    lo, hi = min(vals), max(vals)
    pad = (hi - lo) * 0.08 or 0.05
    return lo - pad, hi + pad


def _edge(v: float, fallback: float) -> float:
    """A band edge that does not exist (one-sided metric, NaN) opens the band to the plot's limit."""
    return v if v is not None and math.isfinite(v) else fallback


def _finite(*vals: float) -> bool:
    return all(v is not None and math.isfinite(v) for v in vals)


def _frame(title: str, body: str, legend: list[tuple[str, ...]], xlabel: str = "", ylabel: str = "",
           ylim: tuple[float, float] | None = None) -> str:
    axes = (f"<line x1='{PAD}' y1='{H - PAD}' x2='{W - 10}' y2='{H - PAD}' stroke='#333'/>"
            f"<line x1='{PAD}' y1='20' x2='{PAD}' y2='{H - PAD}' stroke='#333'/>")
    ticks = ""
    if ylim:
        for frac in (0, 0.5, 1):
            v = ylim[0] + frac * (ylim[1] - ylim[0])
            y = (H - PAD) - frac * (H - PAD - 20)
            ticks += f"<text x='{PAD - 4}' y='{y + 4:.1f}' font-size='10' text-anchor='end'>{v:.3g}</text>"
    leg = "".join(
        (f"<rect x='{W - 130}' y='{24 + 14 * i}' width='10' height='10' fill='{entry[1]}'/>" if len(entry) == 2 else
         marker(entry[2], W - 125, 29 + 14 * i, 4, entry[1], cls="key"))
        + f"<text x='{W - 116}' y='{33 + 14 * i}' font-size='10'>{_esc(entry[0])}</text>"
        for i, entry in enumerate(legend))
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{W}' height='{H}' viewBox='0 0 {W} {H}' role='img' "
            f"aria-label='{_esc(title)}'><rect width='{W}' height='{H}' fill='#fff'/>"
            f"<text x='{W / 2}' y='14' font-size='12' text-anchor='middle' font-weight='bold'>{_esc(title)}</text>"
            f"{axes}{ticks}{body}{leg}"
            f"<text x='{W / 2}' y='{H - 6}' font-size='10' text-anchor='middle'>{_esc(xlabel)}</text>"
            f"<text x='12' y='{H / 2}' font-size='10' transform='rotate(-90 12 {H / 2})' text-anchor='middle'>"
            f"{_esc(ylabel)}</text></svg>")


def _sx(i: float, n: int) -> float:
    return PAD + 20 + (W - PAD - 160) * (i / max(n - 1, 1))


def _sy(v: float, lim: tuple[float, float]) -> float:
    return (H - PAD) - (v - lim[0]) / (lim[1] - lim[0]) * (H - PAD - 20)


def band_lines(title: str, xs: list[str], series: dict[str, list[float]], low: list[float], high: list[float],
               ylabel: str) -> str:
    """One line per model across xs (layers), the retrain band as a shaded region."""
    lim = _range([v for s in series.values() for v in s] + low + high)
    low = [_edge(v, lim[0]) for v in low]
    high = [_edge(v, lim[1]) for v in high]
    n = len(xs)
    poly = " ".join(f"{_sx(i, n):.1f},{_sy(v, lim):.1f}" for i, v in enumerate(high))
    poly += " " + " ".join(f"{_sx(i, n):.1f},{_sy(v, lim):.1f}" for i, v in reversed(list(enumerate(low))))
    body = f"<polygon class='mark band' points='{poly}' fill='{BAND}' fill-opacity='0.35'/>"
    body += "".join(f"<text x='{_sx(i, n):.1f}' y='{H - PAD + 14}' font-size='10' text-anchor='middle'>{_esc(x)}</text>"
                    for i, x in enumerate(xs))
    legend = [("retrain band", BAND)]
    for k, (name, ys) in enumerate(series.items()):
        c, shape = style(k)
        pts = " ".join(f"{_sx(i, n):.1f},{_sy(v, lim):.1f}" for i, v in enumerate(ys) if math.isfinite(v))
        body += f"<polyline class='mark' points='{pts}' fill='none' stroke='{c}' stroke-width='2'/>"
        body += "".join(marker(shape, _sx(i, n), _sy(v, lim), 3.5, c) for i, v in enumerate(ys) if math.isfinite(v))
        legend.append((name, c, shape))
    return _frame(title, body, legend, "layer", ylabel, lim)


def band_scatter(title: str, points: dict[str, tuple[float, float]], box: tuple[float, float, float, float],
                 xlabel: str, ylabel: str) -> str:
    """One point per model; the retrain band as a box (x_low, x_high, y_low, y_high)."""
    xlim = _range([p[0] for p in points.values()] + [box[0], box[1]])
    ylim = _range([p[1] for p in points.values()] + [box[2], box[3]])

    def sx(v: float) -> float:
        return PAD + (v - xlim[0]) / (xlim[1] - xlim[0]) * (W - PAD - 150)

    x0, x1 = sx(_edge(box[0], xlim[0])), sx(_edge(box[1], xlim[1]))
    y0, y1 = _sy(_edge(box[3], ylim[1]), ylim), _sy(_edge(box[2], ylim[0]), ylim)
    body = (f"<rect class='mark band' x='{x0:.1f}' y='{y0:.1f}' width='{max(x1 - x0, 2):.1f}' "
            f"height='{max(y1 - y0, 2):.1f}' fill='{BAND}' fill-opacity='0.35' stroke='{BAND}'/>")
    legend = [("retrain band", BAND)]
    for k, (name, (x, y)) in enumerate(points.items()):
        c, shape = style(k)
        if _finite(x, y):  # a failed or unmeasured model has no point, only its legend entry
            body += marker(shape, sx(x), _sy(y, ylim), 5, c, inner=f"<title>{_esc(name)}</title>")
        legend.append((name, c, shape))
    for frac in (0, 1):
        v = xlim[0] + frac * (xlim[1] - xlim[0])
        body += f"<text x='{sx(v):.1f}' y='{H - PAD + 14}' font-size='10' text-anchor='middle'>{v:.3g}</text>"
    return _frame(title, body, legend, xlabel, ylabel, ylim)


def band_bars(title: str, values: dict[str, float], low: float, high: float, ylabel: str) -> str:
    """One bar per model, the retrain band as a shaded horizontal strip."""
    lim = _range([*values.values(), low, high, 0.0])
    low, high = _edge(low, lim[0]), _edge(high, lim[1])
    n = len(values)
    bw = (W - PAD - 160) / max(n, 1) * 0.6
    body = (f"<rect class='mark band' x='{PAD}' y='{_sy(high, lim):.1f}' width='{W - PAD - 140}' "
            f"height='{max(_sy(low, lim) - _sy(high, lim), 1.5):.1f}' fill='{BAND}' fill-opacity='0.35'/>")
    legend = [("retrain band", BAND)]
    zero = _sy(max(lim[0], 0.0), lim)
    for k, (name, v) in enumerate(values.items()):
        c = COLORS[k % len(COLORS)]
        legend.append((name, c))
        if not _finite(v):
            continue
        x = _sx(k, n) - bw / 2
        top, bottom = min(_sy(v, lim), zero), max(_sy(v, lim), zero)
        body += (f"<rect class='mark' x='{x:.1f}' y='{top:.1f}' width='{bw:.1f}' height='{max(bottom - top, 1):.1f}' "
                 f"fill='{c}'/>")
    return _frame(title, body, legend, "", ylabel, lim)


def histogram(title: str, samples: dict[str, list[float]], xlabel: str, bins: int = 20) -> str:
    """Overlaid normalised histograms of each sample set (for example forget vs test)."""
    lo, hi = _range([v for s in samples.values() for v in s])
    width = (hi - lo) / bins
    dens = {}
    for name, vals in samples.items():
        counts = [0] * bins
        for v in vals:
            if math.isfinite(v):
                counts[min(int((v - lo) / width), bins - 1)] += 1
        dens[name] = [c / max(len(vals), 1) for c in counts]
    ylim = (0.0, max([d for ds in dens.values() for d in ds] + [0.01]) * 1.1)
    bw = (W - PAD - 150) / bins
    body, legend = "", []
    for k, (name, ds) in enumerate(dens.items()):
        c = COLORS[k % len(COLORS)]
        body += "".join(f"<rect class='mark' x='{PAD + i * bw:.1f}' y='{_sy(d, ylim):.1f}' width='{bw:.1f}' "
                        f"height='{H - PAD - _sy(d, ylim):.1f}' fill='{c}' fill-opacity='0.5'/>" for i, d in enumerate(ds) if d)
        legend.append((name, c))
    body += (f"<text x='{PAD}' y='{H - PAD + 14}' font-size='10'>{lo:.3g}</text>"
             f"<text x='{W - 150}' y='{H - PAD + 14}' font-size='10' text-anchor='end'>{hi:.3g}</text>")
    return _frame(title, body, legend, xlabel, "share of samples", ylim)
