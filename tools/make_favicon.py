"""Write services/web/web/static/favicon.ico: the site's icon (favicon.svg, a white
note on a coral disc) drawn at 16, 32 and 48 pixels, each a PNG inside one ICO file.
No imaging library: the shapes are the SVG's, sampled 4x4 per pixel.

    python tools/make_favicon.py [--out PATH]
"""
from __future__ import annotations

import argparse
import struct
import sys
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "services/web/web/static/favicon.ico"
CORAL, WHITE = (0xFF, 0x5E, 0x62), (0xFF, 0xFF, 0xFF)
# favicon.svg's note in its 32x32 box: two heads and the stems-and-beam polygon
HEADS = [(10.0, 22.5, 3.0), (18.0, 19.5, 3.0)]
BEAM = [(11, 9.5), (21, 7), (21, 19.5), (19, 19.5), (19, 10.1), (13, 11.6), (13, 22.5), (11, 22.5)]


class OneLineParser(argparse.ArgumentParser):
    """A bad argument is one line naming it and exit status 2, not a usage dump."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def _in_polygon(x: float, y: float, points) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _sample(x: float, y: float):
    """Colour and coverage of one point of the 32x32 drawing."""
    if (x - 16) ** 2 + (y - 16) ** 2 > 256:
        return None
    note = _in_polygon(x, y, BEAM) or any((x - cx) ** 2 + (y - cy) ** 2 <= r * r for cx, cy, r in HEADS)
    return WHITE if note else CORAL


def render(size: int) -> bytes:
    """RGBA rows of the icon at ``size`` pixels."""
    rows = bytearray()
    n = 4
    for py in range(size):
        rows.append(0)  # PNG filter type: none
        for px in range(size):
            acc, hits = [0, 0, 0], 0
            for sy in range(n):
                for sx in range(n):
                    colour = _sample((px + (sx + 0.5) / n) * 32 / size, (py + (sy + 0.5) / n) * 32 / size)
                    if colour:
                        hits += 1
                        acc = [a + c for a, c in zip(acc, colour)]
            if hits:
                rows += bytes(round(a / hits) for a in acc) + bytes([round(255 * hits / (n * n))])
            else:
                rows += b"\0\0\0\0"
    return bytes(rows)


def png(size: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(render(size), 9))
            + chunk(b"IEND", b""))


def ico(sizes=(16, 32, 48)) -> bytes:
    images = [png(s) for s in sizes]
    out = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    for size, image in zip(sizes, images):
        out += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(image), offset)
        offset += len(image)
    return out + b"".join(images)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="tools/make_favicon.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write it (default {OUT})")
    args = parser.parse_args(argv)
    try:
        args.out.write_bytes(ico())
    except OSError as e:
        parser.exit(2, f"{parser.prog}: error: argument --out: {args.out}: {e.strerror or e}\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
