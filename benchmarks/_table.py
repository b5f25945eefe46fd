"""Print a benchmark table: left-aligned text columns, padded to the widest cell."""
from __future__ import annotations


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(f"{c!s:{w}}" for c, w in zip(row, widths)).rstrip())


def seconds_and_threads(doc: str, argv: list[str] | None = None, seconds: float = 60.0):
    """The common command line of the speech-length benchmarks (--seconds, --threads), with torch and BLAS pinned to
    --threads on the CPU; returns the parsed arguments."""
    import argparse

    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=seconds)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    from gesturegen.compute import use_compute

    use_compute("cpu", args.threads)
    return args
