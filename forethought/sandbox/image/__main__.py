"""``python -m forethought.sandbox.image [--tag NAME] [--python PATH]``: build the image."""

from __future__ import annotations

import argparse
import sys
import time

from forethought.exceptions import ForethoughtError
from forethought.sandbox.image import DEFAULT_IMAGE, build_image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m forethought.sandbox.image",
                                     description="Build the Docker sandbox image locally "
                                                 "from this machine's Python (nothing pulled).")
    parser.add_argument("--tag", default=DEFAULT_IMAGE,
                        help=f"image name (default {DEFAULT_IMAGE})")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter to put in the image (default: this one)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        image_id = build_image(tag=args.tag, python=args.python)
    except ForethoughtError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"built {args.tag} ({image_id[:19]}) in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
