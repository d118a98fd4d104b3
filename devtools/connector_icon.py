"""The connector's icon, drawn: a white speech bubble holding a check mark on the connector's brand colour, 230 by
230 pixels with the logo inside about 160 (as certification asks), no transparency.

    python -m devtools.connector_icon           write connector/icon.png
    python -m devtools.connector_icon --check   exit 1 when connector/icon.png is not what this draws
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from availability.openapi import BRAND_COLOR, CONNECTOR_DIR, ICON_FILE

SIZE = 230
SCALE = 4  # drawn this many times larger, then shrunk: smooth edges without a hand-made anti-aliasing


def draw() -> bytes:
    """The icon as PNG bytes (the same bytes every time)."""
    size = SIZE * SCALE
    image = Image.new("RGB", (size, size), BRAND_COLOR)
    pen = ImageDraw.Draw(image)

    def box(left: float, top: float, right: float, bottom: float) -> tuple[int, int, int, int]:
        return (round(left * SCALE), round(top * SCALE), round(right * SCALE), round(bottom * SCALE))

    # The bubble: 160 wide, 124 tall, its tail at the lower left; the whole logo 160 by 160.
    pen.rounded_rectangle(box(35, 35, 195, 159), radius=30 * SCALE, fill="white")
    pen.polygon([(round(x * SCALE), round(y * SCALE)) for x, y in ((62, 150), (100, 150), (58, 195))], fill="white")
    # The check mark, in the brand colour: someone is there to answer.
    pen.line([(round(x * SCALE), round(y * SCALE)) for x, y in ((78, 99), (103, 123), (152, 72))],
             fill=BRAND_COLOR, width=17 * SCALE, joint="curve")
    for x, y in ((78, 99), (152, 72)):  # round ends
        pen.ellipse(box(x - 8.5, y - 8.5, x + 8.5, y + 8.5), fill=BRAND_COLOR)
    small = image.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.connector_icon", description="Draw the connector's icon.")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    path = CONNECTOR_DIR / ICON_FILE
    icon = draw()
    if args.check:
        if not path.exists() or path.read_bytes() != icon:
            print(f"{path} is not what devtools/connector_icon.py draws; write it with: python -m "
                  "devtools.connector_icon", file=sys.stderr)
            return 1
        return 0
    Path(path).write_bytes(icon)
    print(f"Wrote {path} ({SIZE}x{SIZE}, on {BRAND_COLOR}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
