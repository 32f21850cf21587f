"""Plain-text tables for the harnesses' summaries."""

from collections.abc import Sequence


def table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns left-aligned, separated by two spaces, under a rule."""
    shown = [list(columns), *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in shown) for i in range(len(columns))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    rule = "-" * len(line(shown[0]).rstrip())
    return "\n".join(
        [rule, line(shown[0]).rstrip(), rule, *(line(r).rstrip() for r in shown[1:]), rule]
    )
