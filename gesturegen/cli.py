"""The `gesturegen` command. Pipeline stages run through Snakemake/DVC; this is for looking at things.

    gesturegen params [PATH]          validate params.yaml (strict) and print the resolved values
    gesturegen windows SPLIT_DIR      summarise a build_windows split (shapes, videos, words)
    gesturegen plots-template PATH    write the offline HTML template of `dvc plots show` (envs/setup.sh does)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from gesturegen import __version__


def _params(args: argparse.Namespace) -> int:
    from gesturegen.config import ParamsError, load_params, to_dict
    try:
        params = load_params(args.path)
    except ParamsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(yaml.safe_dump(to_dict(params), sort_keys=False), end="")
    return 0


def _windows(args: argparse.Namespace) -> int:
    from gesturegen.data.windowstore import open_split
    split = open_split(args.split_dir)
    words = split.words()
    print(f"{args.split_dir}: {len(split)} windows of {split.meta['n_frames']} frames at {split.meta['fps']} fps "
          f"({split.meta['skeleton']}, span {split.meta['span']})")
    for name in ("dir_vec", "poses", "audio", "video_ids"):
        arr = getattr(split, name)
        print(f"  {name:9s} {arr.dtype!s:8s} {arr.shape}")
    print(f"  videos    {len(set(split.video_ids.tolist()))}")
    print(f"  words     {len(words)} ({len(words) / max(len(split), 1):.1f} per window)")
    return 0


_PLOTS_PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>gesturegen: DVC plots</title>
    <!-- vega %s, vega-lite %s, vega-embed %s, inlined from the vl-convert-python wheel: renders offline -->
    <script type="text/javascript">
%s
    </script>
    <style>
        table { border-spacing: 15px; }
        body { font-family: sans-serif; }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def _plots_template(args: argparse.Namespace) -> int:
    """DVC's page with the vega libraries inline instead of its CDN <script> tags (no `{scripts}` placeholder)."""
    import vl_convert as vlc

    vl_version = "v5.21"   # DVC's templates are vega-lite v5 specs
    bundle = vlc.javascript_bundle(vl_version=vl_version)
    if "</script" in bundle.lower():
        print("error: the vega bundle contains '</script'; cannot inline it", file=sys.stderr)
        return 1
    page = _PLOTS_PAGE % (vlc.get_vega_version(), vl_version, vlc.get_vega_embed_version(), bundle)
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(page)
    print(f"wrote {args.path} ({len(page) // 1024} KiB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="gesturegen", description=__doc__.splitlines()[0])
    ap.add_argument("--version", action="version", version=f"gesturegen {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("params", help="validate params.yaml and print it resolved")
    p.add_argument("path", nargs="?", type=Path, default=Path("params.yaml"))
    p.set_defaults(func=_params)
    w = sub.add_parser("windows", help="summarise a build_windows split folder")
    w.add_argument("split_dir", type=Path)
    w.set_defaults(func=_windows)
    t = sub.add_parser("plots-template", help="write the offline HTML template for `dvc plots show`")
    t.add_argument("path", type=Path)
    t.set_defaults(func=_plots_template)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
