"""The report's palette: one colour, line style and marker per run or group.

Every figure and every interactive chart of a report takes its run styles
from here, so a group looks the same in the PNG, the SVG and the page's
chart, and in every figure of the report.

The colours are Okabe and Ito's colour-blind-safe set ("Color Universal
Design", 2008) without its yellow, which is unreadable as a thin line on
white: seven colours that stay apart for the three common kinds of colour
blindness. Colour alone does not survive a grey printout (blue, vermillion,
green and purple have nearly the same lightness), so each style also has a
line style and a marker, and the three cycles have coprime lengths
(7 colours, 4 line styles, 9 markers):

* the first four styles differ in line style, so up to four runs stay apart
  in grey by their dashes alone;
* the first 36 styles differ in (line style, marker), so they stay apart in
  grey whatever their colours; the first 28 differ in (colour, line style),
  and the first 252 in all three;
* a style is chosen by position only (:func:`style`), and :func:`assign`
  gives names their styles in the order they first appear, so the same runs
  in the same order always get the same styles.

Each style carries both spellings a chart needs: matplotlib's
(``linestyle``, ``marker``) and plotly's / SVG's (``dash``, ``symbol``).

>>> style(0).color, style(0).linestyle, style(0).marker
('#0072B2', '-', 'o')
>>> assign(["SGD", "Adam", "SGD"])["Adam"].name
'orange'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gdlab._checks import check_int

__all__ = [
    "COLORS",
    "COLOR_NAMES",
    "DASHES",
    "LINESTYLES",
    "MARKERS",
    "NEUTRAL",
    "PALETTE",
    "SYMBOLS",
    "Style",
    "assign",
    "grey_level",
    "style",
]

PALETTE = "okabe-ito"

# Okabe–Ito, yellow (#F0E442) left out; ordered so that neighbours differ in lightness.
COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#000000")
COLOR_NAMES = (
    "blue", "orange", "bluish green", "vermillion", "sky blue", "reddish purple", "black",
)  # fmt: skip

# Line styles: matplotlib's names and the matching plotly ``dash`` names.
LINESTYLES = ("-", "--", "-.", ":")
DASHES = ("solid", "dash", "dashdot", "dot")

# Markers: matplotlib's codes and the matching plotly ``symbol`` names.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h")
SYMBOLS = (
    "circle", "square", "triangle-up", "diamond", "triangle-down", "cross", "x", "star",
    "hexagon",
)  # fmt: skip

NEUTRAL = "#7F7F7F"  # data points, reference lines: never a run's colour


@dataclass(frozen=True)
class Style:
    """How one run or group is drawn.

    Attributes:
        index: its position in the palette's order.
        name: the colour's name (``"blue"``, ``"orange"``, ...).
        color: ``#RRGGBB``.
        linestyle: matplotlib's line style (``"-"``, ``"--"``, ``"-."``, ``":"``).
        dash: the same as plotly's ``line.dash`` (``"solid"``, ``"dash"``, ...).
        marker: matplotlib's marker code.
        symbol: the same as plotly's ``marker.symbol``.
    """

    index: int
    name: str
    color: str
    linestyle: str
    dash: str
    marker: str
    symbol: str

    def mpl(self) -> dict[str, str]:
        """Keyword arguments for matplotlib's ``plot``: colour, line style and marker."""
        return {"color": self.color, "linestyle": self.linestyle, "marker": self.marker}


def style(index: int) -> Style:
    """The ``index``-th style (0-based): colour, line style and marker each cycle.

    >>> [style(i).linestyle for i in range(5)]
    ['-', '--', '-.', ':', '-']
    >>> style(7).color == style(0).color, style(7).linestyle == style(0).linestyle
    (True, False)
    """
    i = check_int("index", index, low=0)
    c, d, m = i % len(COLORS), i % len(LINESTYLES), i % len(MARKERS)
    return Style(i, COLOR_NAMES[c], COLORS[c], LINESTYLES[d], DASHES[d], MARKERS[m], SYMBOLS[m])


def assign(names: Iterable[str]) -> dict[str, Style]:
    """One style per distinct name, in the order the names first appear.

    >>> {k: v.color for k, v in assign(["GD", "SGD", "GD", "mini-batch"]).items()}
    {'GD': '#0072B2', 'SGD': '#E69F00', 'mini-batch': '#009E73'}
    """
    order = list(dict.fromkeys(str(name) for name in names))
    return {name: style(i) for i, name in enumerate(order)}


def grey_level(color: str) -> float:
    """Relative luminance of ``#RRGGBB`` (0 black, 1 white), as in a greyscale print.

    >>> round(grey_level("#000000"), 3), round(grey_level("#FFFFFF"), 3)
    (0.0, 1.0)
    """
    channels = [int(color[k : k + 2], 16) / 255 for k in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
