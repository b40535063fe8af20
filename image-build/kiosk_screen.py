"""Is this screenshot the kiosk's start page? (the boot test's proof that cage + Chromium work)

    kiosk_screen.py SCREEN.ppm OUT.png      exit 0 when it is; prints the figures as JSON

Not "some pixels are lit": the start page's own elements, in the colours of
``appliance/kiosk_ui/static/style.css``, wherever the layout puts them at this resolution:

* the title bar (``--brand`` #0b3d78) across the top: most of the top 5 % of rows;
* the yellow help button (#ffd447) in the right half of the top 15 %;
* the two start cards (``--soft`` #eef3fa), filling a good part of the left AND the right half
  below the bar (no other kiosk screen has both).

A text console, a blank or black output, Chromium's error page, or another kiosk screen fails.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from PIL import Image

BRAND = (11, 61, 120)
HELP_YELLOW = (255, 212, 71)
SOFT = (238, 243, 250)
LIMITS = {"bar": 0.5, "help_button": 0.03, "cards_left": 0.4, "cards_right": 0.4}


def _share(im: Image.Image, box: tuple[int, int, int, int], colour, tol: int, step: int) -> float:
    px = im.load()
    x0, y0, x1, y1 = box
    hits = total = 0
    for y in range(y0, y1, step):
        for x in range(x0, x1, step):
            p = px[x, y]
            total += 1
            hits += all(abs(p[i] - colour[i]) <= tol for i in range(3))
    return hits / total if total else 0.0


def figures(im: Image.Image) -> dict[str, Any]:
    im = im.convert("RGB")
    w, h = im.size
    top = max(3, h * 5 // 100)
    body = h * 20 // 100
    return {
        "size": [w, h],
        "bar": round(_share(im, (0, 2, w, top), BRAND, 12, 2), 3),
        "help_button": round(_share(im, (w // 2, 0, w, h * 15 // 100), HELP_YELLOW, 20, 2), 3),
        "cards_left": round(_share(im, (0, body, w // 2, h), SOFT, 6, 4), 3),
        "cards_right": round(_share(im, (w // 2, body, w, h), SOFT, 6, 4), 3),
    }


def is_start_page(im: Image.Image) -> tuple[bool, dict[str, Any]]:
    f = figures(im)
    return all(f[k] >= v for k, v in LIMITS.items()), f


def main(argv: list[str]) -> int:
    src, dest = argv[1:3]
    im = Image.open(src).convert("RGB")
    im.save(dest)
    ok, f = is_start_page(im)
    print(json.dumps({"start_page": ok, **f}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
