"""A publications-per-year line chart as inline SVG: drawn on the server, so the page needs no
JavaScript and reads the same in every browser and in a screenshot."""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP, PAD_RIGHT = 720, 260, 44, 28, 12, 12
COLOURS = ["#1b6ac9", "#d1495b", "#2a9d8f", "#e9a03b", "#7b4fa0", "#5c6f7b"]


def year_chart(series: dict[str, dict[int, int]]) -> Markup:
    """One line per series (condition → {year: count}), with year and count axes and a legend."""
    years = sorted({y for counts in series.values() for y in counts})
    if not years:
        return Markup('<p class="chart-empty">No publication years recorded yet.</p>')
    first, last = years[0], max(years[-1], years[0] + 1)
    top = max(max(counts.values(), default=0) for counts in series.values()) or 1
    x = lambda year: PAD_LEFT + (year - first) / (last - first) * (WIDTH - PAD_LEFT - PAD_RIGHT)  # noqa: E731
    y = lambda n: HEIGHT - PAD_BOTTOM - n / top * (HEIGHT - PAD_BOTTOM - PAD_TOP)  # noqa: E731
    parts = [f'<svg class="year-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="Publications per year by condition">']
    parts += _axes(first, last, top, x, y)
    legend = []
    for colour, (name, counts) in zip(COLOURS, series.items()):
        points = " ".join(f"{x(year):.1f},{y(counts.get(year, 0)):.1f}" for year in range(first, last + 1))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
                     f'<title>{escape(name)}</title></polyline>')
        legend.append(f'<li><span class="swatch" style="background:{colour}"></span>{escape(name)}</li>')
    parts.append("</svg>")
    return Markup("".join(parts) + '<ul class="chart-legend">' + "".join(legend) + "</ul>")


def _axes(first, last, top, x, y) -> list[str]:
    baseline = HEIGHT - PAD_BOTTOM
    parts = [f'<line x1="{PAD_LEFT}" y1="{baseline}" x2="{WIDTH - PAD_RIGHT}" y2="{baseline}" stroke="#999"/>',
             f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{baseline}" stroke="#999"/>']
    step = max(1, round((last - first) / 8))
    for year in range(first, last + 1, step):
        parts.append(f'<text x="{x(year):.1f}" y="{baseline + 18}" text-anchor="middle">{year}</text>')
    for n in sorted({0, top // 2, top}):
        parts.append(f'<text x="{PAD_LEFT - 6}" y="{y(n) + 4:.1f}" text-anchor="end">{n}</text>')
    return parts
