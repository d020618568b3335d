"""``ajet bench report``: the store's rows as a table (rich) and as a static HTML page whose
charts are inline SVG (no script, no network: the page opens from disk or a CI artifact)."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from itertools import groupby
from pathlib import Path

from rich.table import Table

from ajet_core.bench.store import BenchRow

Series = tuple[str, str, str]  # (suite, backbone, model)


def series_key(row: BenchRow) -> Series:
    return (row.suite, row.backbone, model_name(row.model))


def model_name(path: str) -> str:
    return Path(path).name or path


def short_commit(row: BenchRow) -> str:
    if row.git.commit is None:
        return "(no git)"
    return row.git.commit[:9] + ("+dirty" if row.git.dirty else "")


def ordered(rows: Iterable[BenchRow]) -> list[BenchRow]:
    return sorted(rows, key=lambda r: (series_key(r), r.recorded_at))


def table(rows: Iterable[BenchRow]) -> Table:
    out = Table(title="ajet bench: held-out success before -> after training", show_lines=False)
    for name, justify in (
        ("recorded (UTC)", "left"),
        ("commit", "left"),
        ("ajet-core", "left"),
        ("suite", "left"),
        ("backbone", "left"),
        ("model", "left"),
        ("steps", "right"),
        ("before", "right"),
        ("after", "right"),
        ("change", "right"),
        ("wall", "right"),
        ("machine", "left"),
    ):
        out.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in ordered(rows):
        change = row.held_out_after - row.held_out_before
        out.add_row(
            row.recorded_at.strftime("%Y-%m-%d %H:%M"),
            short_commit(row),
            row.versions.get("ajet-core", "?"),
            row.suite,
            row.backbone,
            model_name(row.model),
            f"{row.steps}/{row.steps_planned}",
            f"{row.held_out_before:.3f}",
            f"{row.held_out_after:.3f}",
            f"[{'green' if change > 0 else 'red' if change < 0 else 'default'}]{change:+.3f}[/]",
            f"{row.wall_seconds / 60:.1f} min",
            _machine(row),
        )
    return out


def _machine(row: BenchRow) -> str:
    machine = row.machine
    hardware = ", ".join(machine.gpus) if machine.gpus else f"{machine.cpus} CPUs"
    load = f", load {machine.load_average_1m:g}" if machine.load_average_1m is not None else ""
    return f"{machine.hostname} ({hardware}{load})"


# --- the static page ---------------------------------------------------------------------------

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 640, 260, 48, 16, 16, 64
BEFORE_COLOUR, AFTER_COLOUR = "#9aa0a6", "#1a73e8"
HEADLINE_DISTRIBUTIONS = ("ajet-core", "torch", "transformers", "verl", "trinity-rft", "vllm")


def chart(rows: list[BenchRow]) -> ET.Element:
    """Held-out success of one series, one position per run in time order (labelled by its
    commit): after training as a line, before training as hollow grey points."""
    svg = ET.Element(
        "svg",
        xmlns="http://www.w3.org/2000/svg",
        width=str(WIDTH),
        height=str(HEIGHT),
        viewBox=f"0 0 {WIDTH} {HEIGHT}",
        role="img",
    )
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * (i + 0.5) / len(rows))

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value)

    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        ET.SubElement(
            svg, "line", x1=str(LEFT), x2=str(WIDTH - RIGHT), y1=f"{y(tick):.1f}",
            y2=f"{y(tick):.1f}", stroke="#e0e0e0",
        )  # fmt: skip
        label = ET.SubElement(
            svg, "text", x=str(LEFT - 6), y=f"{y(tick) + 4:.1f}", fill="#555",
            **{"text-anchor": "end", "font-size": "11"},
        )  # fmt: skip
        label.text = f"{tick:g}"
    points = " ".join(f"{x(i):.1f},{y(r.held_out_after):.1f}" for i, r in enumerate(rows))
    ET.SubElement(svg, "polyline", points=points, fill="none", stroke=AFTER_COLOUR)
    for i, row in enumerate(rows):
        before = ET.SubElement(
            svg, "circle", cx=f"{x(i):.1f}", cy=f"{y(row.held_out_before):.1f}", r="4",
            fill="white", stroke=BEFORE_COLOUR, **{"stroke-width": "2"},
        )  # fmt: skip
        ET.SubElement(before, "title").text = f"before training: {row.held_out_before:.3f}"
        after = ET.SubElement(
            svg, "circle", cx=f"{x(i):.1f}", cy=f"{y(row.held_out_after):.1f}", r="4",
            fill=AFTER_COLOUR,
        )  # fmt: skip
        ET.SubElement(after, "title").text = (
            f"after {row.steps} steps: {row.held_out_after:.3f} ({short_commit(row)}, "
            f"{row.recorded_at:%Y-%m-%d %H:%M})"
        )
        label = ET.SubElement(
            svg, "text", x=f"{x(i):.1f}", y=str(HEIGHT - BOTTOM + 16), fill="#333",
            **{"text-anchor": "middle", "font-size": "11", "font-family": "monospace"},
        )  # fmt: skip
        label.text = short_commit(row)
        when = ET.SubElement(
            svg, "text", x=f"{x(i):.1f}", y=str(HEIGHT - BOTTOM + 32), fill="#777",
            **{"text-anchor": "middle", "font-size": "10"},
        )  # fmt: skip
        when.text = f"{row.recorded_at:%m-%d %H:%M}"
    return svg


PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #202124; }
table { border-collapse: collapse; font-size: 13px; margin-bottom: 2em; }
th, td { border-bottom: 1px solid #e0e0e0; padding: 4px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.legend span { margin-right: 1.5em; }
"""


def html_page(rows: Iterable[BenchRow], *, source: str) -> str:
    rows = ordered(rows)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>ajet bench report</title>",
        f"<style>{PAGE_STYLE}</style></head><body>",
        f"<h1>ajet bench report</h1><p>{len(rows)} rows from {html.escape(source)}</p>",
        f"<p class='legend'><span style='color:{AFTER_COLOUR}'>&#9679; held-out success after "
        f"training</span><span style='color:{BEFORE_COLOUR}'>&#9675; before training</span></p>",
    ]
    for key, group in groupby(rows, key=series_key):
        members = list(group)
        suite, backbone, model = key
        parts.append(f"<h2>{html.escape(f'{suite} · {backbone} · {model}')}</h2>")
        parts.append(ET.tostring(chart(members), encoding="unicode"))
        parts.append(_html_table(members))
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_table(rows: list[BenchRow]) -> str:
    head = (
        "recorded (UTC)", "commit", "versions", "steps", "before", "after", "wall (s)",
        "machine", "run",
    )  # fmt: skip
    lines = ["<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for row in rows:
        # The libraries that move numbers; every ajet-* plugin's version is in the store.
        versions = ", ".join(
            f"{k} {v}" for k, v in row.versions.items() if k in HEADLINE_DISTRIBUTIONS
        )
        cells = [
            (f"{row.recorded_at:%Y-%m-%d %H:%M}", ""),
            (short_commit(row), ""),
            (versions, ""),
            (f"{row.steps}/{row.steps_planned}", "num"),
            (f"{row.held_out_before:.3f}", "num"),
            (f"{row.held_out_after:.3f}", "num"),
            (f"{row.wall_seconds:.0f}", "num"),
            (_machine(row), ""),
            (row.run_dir, ""),
        ]
        lines.append(
            "<tr>"
            + "".join(f"<td class='{cls}'>{html.escape(text)}</td>" for text, cls in cells)
            + "</tr>"
        )
    lines.append("</table>")
    return "\n".join(lines)
