"""Pieces of samcam's HTML pages: the style sheet, cells in %, links and text that
survive any file name.

File names come from the disk: they may hold ``#``, ``?``, ``%``, ``<`` or bytes that are
not UTF-8 (Python keeps those as lone surrogates, ``surrogateescape``). Text shows them
with ``\\xff`` escapes (:func:`printable`, then HTML-escaped by :func:`text`); a link
quotes the name's own bytes (:func:`href`), so the browser opens that very file.
"""
from __future__ import annotations

import html
import math
from typing import Optional
from urllib.parse import quote

from ..names import printable

__all__ = ["STYLE", "printable", "text", "href", "percent", "delta_cell", "number_cell", "page"]

STYLE = """
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1440px; }
table { border-collapse: collapse; margin: 8px 0 20px; }
th, td { border: 1px solid #ccc; padding: 3px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #eef2f7; }
td.up, .up { color: #15803d; } td.down, .down { color: #b91c1c; }
.headline { font-size: 20px; margin: 4px 0 14px; }
.grid { display: flex; flex-direction: column; gap: 14px; }
img { max-width: 100%; height: auto; }
figure { margin: 0; border: 1px solid #ddd; padding: 6px; background: #fafafa; }
figcaption { font-size: 13px; margin-top: 4px; }
.note { color: #555; font-size: 14px; }
table.source th { text-align: left; background: #f5f5f5; font-weight: normal; white-space: nowrap; vertical-align: top; }
table.source td { text-align: left; font-family: monospace; font-size: 13px; word-break: break-all; }
.grid figure { width: 100%; box-sizing: border-box; }
"""


def text(value: object) -> str:
    """``value`` as HTML text: printable (:func:`printable`) and escaped (``<``, ``&``, quotes)."""
    return html.escape(printable(str(value)))


def href(path: str) -> str:
    """A relative link to the file ``path`` (``/``-separated), for an ``href``/``src`` attribute.

    Each character but ``/`` that a URL gives a meaning to is %-quoted, from the name's own
    bytes: ``a#b?c%20.png`` links to that file, not to ``a`` with a fragment.
    """
    return html.escape(quote(path.encode("utf-8", "surrogateescape"), safe="/"))


def percent(value: Optional[float]) -> str:
    """A fraction in % with two decimals; ``–`` for None or NaN."""
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}"


def number_cell(value: Optional[float], scale: float = 100.0, digits: int = 2, signed: bool = False) -> str:
    """``<td>`` of ``value * scale`` with ``digits`` decimals (``+`` with ``signed``); ``–`` for None/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "<td>–</td>"
    return f"<td>{scale * value:{'+' if signed else ''}.{digits}f}</td>"


def delta_cell(delta: float) -> str:
    """``<td>`` of a change in percentage points, green when up, red when down."""
    if math.isnan(delta):
        return "<td>–</td>"
    css = "up" if delta > 0 else "down" if delta < 0 else ""
    return f'<td class="{css}">{100 * delta:+.2f}</td>'


def page(title: str, body: str) -> bytes:
    """A whole UTF-8 HTML page: ``title`` (plain text) as its title and heading, ``body`` (HTML) under it."""
    shown = text(title)
    document = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{shown}</title>'
        f"<style>{STYLE}</style></head><body><h1>{shown}</h1>" + body + "</body></html>\n"
    )
    return printable(document).encode("utf-8")  # a name not UTF-8 missed on the way: escaped, not a crash
