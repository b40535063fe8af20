#!/usr/bin/env python3
"""Make the QR benchmark corpus: frames of a hand holding a CCCD in front of the kiosk camera.

    .venv/bin/python tools/make_qr_corpus.py [--out DIR] [--count 300] [--seed 2024]

Writes ``qr-NNNN.png|jpg`` and ``manifest.jsonl`` (file, payload, how the frame was made) to DIR
(default ``test-artifacts/qr-corpus``, git-ignored: the corpus is not committed). Frames alternate
between 1280x720 and 640x480; each has one main condition (small or frame-filling QR, rotation,
perspective, blur, motion, noise, JPEG, low contrast, glare) plus mild random extras. The
generator is :mod:`appliance.pipeline.qr_synth`; ``appliance bench qr --corpus DIR`` measures
the decoders on it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.pipeline.qr_synth import make_corpus, read_manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="test-artifacts/qr-corpus", help="output folder")
    parser.add_argument("--count", type=int, default=300, help="frames (default 300)")
    parser.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
    args = parser.parse_args()
    t0 = time.monotonic()
    make_corpus(args.out, args.count, args.seed)
    rows = read_manifest(args.out)
    summary = {
        "out": args.out,
        "frames": len(rows),
        "seconds": round(time.monotonic() - t0, 1),
        "by_condition": dict(Counter(r["spec"]["tags"][0] for r in rows)),
        "by_size": dict(Counter(f"{r['spec']['width']}x{r['spec']['height']}" for r in rows)),
        "by_writer": dict(Counter(r["spec"]["writer"] for r in rows)),
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
