"""A tiny stand-in for the synthetic inspection line, for tests and development: 640×480 frames
of a brushed, noisy gray surface with 0–4 defects (scratch, crack, dent, stain) and exact YOLO
labels, written as an Ultralytics-layout dataset. Deterministic from a seed.

Also runnable: ``python3 tests/synthetic_data.py OUT_DIR --train 400 --val 100 [--dark]``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

NAMES = ["scratch", "crack", "dent", "stain"]
W, H = 640, 480


def _background(rng: np.random.Generator, dark: bool) -> Image.Image:
    base = rng.uniform(120, 160) * (0.45 if dark else 1.0)
    # Brushed metal: noise stretched along x, plus fine grain.
    streaks = rng.normal(0, 10, (H, W // 16)).astype(np.float32)
    streaks = np.asarray(
        Image.fromarray(streaks, mode="F").resize((W, H), Image.BILINEAR), np.float32
    )
    grain = rng.normal(0, 9 if dark else 4, (H, W)).astype(np.float32)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    shade = 12 * np.cos((xx - W / 2) / W * math.pi) + 6 * (yy / H)
    g = base + streaks + grain + shade
    tint = np.array([1.0, 1.0, 1.04 if not dark else 1.1], np.float32)
    rgb = np.clip(g[..., None] * tint, 0, 255).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


def _polyline(
    rng: np.random.Generator, n: int, step: float, jitter: float
) -> list[tuple[float, float]]:
    x, y = rng.uniform(60, W - 60), rng.uniform(60, H - 60)
    angle = rng.uniform(0, 2 * math.pi)
    pts = [(x, y)]
    for _ in range(n):
        angle += rng.normal(0, jitter)
        x = float(np.clip(x + step * math.cos(angle), 5, W - 5))
        y = float(np.clip(y + step * math.sin(angle), 5, H - 5))
        pts.append((x, y))
    return pts


def _bbox(pts: list[tuple[float, float]], pad: float) -> tuple[float, float, float, float]:
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    return (
        max(0.0, min(xs) - pad),
        max(0.0, min(ys) - pad),
        min(float(W), max(xs) + pad),
        min(float(H), max(ys) + pad),
    )


def _draw_defect(
    img: Image.Image, cls: int, rng: np.random.Generator, dark: bool
) -> tuple[float, float, float, float]:
    draw = ImageDraw.Draw(img)
    k = 0.5 if dark else 1.0
    if cls == 0:  # scratch: long, thin, bright, nearly straight
        pts = _polyline(rng, int(rng.integers(3, 7)), float(rng.uniform(12, 30)), 0.08)
        v = int(np.clip(215 * (0.6 if dark else 1.0), 0, 255))
        draw.line(pts, fill=(v, v, v), width=2)
        return _bbox(pts, 1.5)
    if cls == 1:  # crack: dark, jagged, branching
        pts = _polyline(rng, int(rng.integers(5, 10)), float(rng.uniform(6, 12)), 0.7)
        v = int(25 * k)
        draw.line(pts, fill=(v, v, v), width=2)
        allp = list(pts)
        mid = pts[len(pts) // 2]
        br = [mid]
        a = rng.uniform(0, 2 * math.pi)
        for _ in range(3):
            a += rng.normal(0, 0.6)
            br.append(
                (
                    float(np.clip(br[-1][0] + 8 * math.cos(a), 5, W - 5)),
                    float(np.clip(br[-1][1] + 8 * math.sin(a), 5, H - 5)),
                )
            )
        draw.line(br, fill=(v, v, v), width=1)
        allp += br
        return _bbox(allp, 1.5)
    if cls == 2:  # dent: dark ellipse with a bright rim on one side
        cx, cy = rng.uniform(40, W - 40), rng.uniform(40, H - 40)
        rx, ry = rng.uniform(8, 22), rng.uniform(8, 22)
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=tuple([int(70 * k)] * 3))
        draw.arc(
            [cx - rx, cy - ry, cx + rx, cy + ry], 200, 340, fill=tuple([int(230 * k)] * 3), width=3
        )
        return (cx - rx - 1, cy - ry - 1, cx + rx + 1, cy + ry + 1)
    # stain: brownish irregular blotch
    cx, cy = rng.uniform(50, W - 50), rng.uniform(50, H - 50)
    r = rng.uniform(10, 30)
    n = 14
    pts = []
    for i in range(n):
        a = 2 * math.pi * i / n
        rr = r * rng.uniform(0.6, 1.2)
        pts.append((cx + rr * math.cos(a), cy + rr * 0.8 * math.sin(a)))
    color = (int(110 * k), int(80 * k), int(50 * k))
    draw.polygon(pts, fill=color)
    return _bbox(pts, 0.5)


def make_frame(
    rng: np.random.Generator, dark: bool = False
) -> tuple[Image.Image, list[tuple[int, float, float, float, float]]]:
    img = _background(rng, dark)
    labels = []
    for _ in range(int(rng.integers(0, 5))):
        cls = int(rng.integers(0, 4))
        layer = img.copy()
        x1, y1, x2, y2 = _draw_defect(layer, cls, rng, dark)
        # Soften the defect a little so it is not a hard-edged sticker.
        layer = layer.filter(ImageFilter.GaussianBlur(0.6))
        mask = Image.new("L", (W, H), 0)
        ImageDraw.Draw(mask).rectangle([x1 - 3, y1 - 3, x2 + 3, y2 + 3], fill=255)
        img.paste(layer, (0, 0), mask)
        labels.append((cls, (x1 + x2) / 2 / W, (y1 + y2) / 2 / H, (x2 - x1) / W, (y2 - y1) / H))
    return img, labels


def write_dataset(
    root: Path,
    n_train: int,
    n_val: int,
    seed: int = 0,
    dark: bool = False,
    ext: str = ".png",
    names_style: str = "mapping",
) -> Path:
    """Writes ``root/data.yaml``, ``images/{train,val}``, ``labels/{train,val}``; returns root."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img, labels = make_frame(rng, dark)
            stem = f"{split}_{i:05d}"
            if ext == ".jpg":
                img.save(root / "images" / split / f"{stem}{ext}", quality=92)
            else:
                img.save(root / "images" / split / f"{stem}{ext}", compress_level=1)
            (root / "labels" / split / f"{stem}.txt").write_text(
                "".join(f"{c} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n" for c, cx, cy, w, h in labels)
            )
    if names_style == "mapping":
        names = "names:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(NAMES))
    else:
        names = "names: [" + ", ".join(NAMES) + "]\n"
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\n{names}")
    return root


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--train", type=int, default=200)
    ap.add_argument("--val", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dark", action="store_true")
    ap.add_argument("--ext", default=".png")
    a = ap.parse_args()
    write_dataset(a.out, a.train, a.val, a.seed, a.dark, a.ext)
