"""Print a benchmark table: left-aligned text columns, padded to the widest cell."""
from __future__ import annotations


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(f"{c!s:{w}}" for c, w in zip(row, widths)).rstrip())
