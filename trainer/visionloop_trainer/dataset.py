"""Reading an Ultralytics-layout YOLO dataset, validating every label row, letterboxing frames
exactly as the runtime does, and producing augmented training batches.

Layout: ``data.yaml`` (``path``, ``train``, ``val``, ``names``); ``images/<split>/<stem>.<ext>``
and ``labels/<split>/<stem>.txt`` with rows ``class cx cy w h`` normalized to 0..1; an empty
label file (or, as in Ultralytics, a missing one) means no objects.

Every problem found is a TrainerError whose message names the file relative to the dataset
root and, for label rows, the 1-based line. This module never writes to the dataset.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from .events import TrainerError, log

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
LETTERBOX_FILL = 114


# ----------------------------------------------------------------------------- data.yaml


@dataclass
class DatasetSpec:
    yaml_path: Path
    root: Path
    names: list[str]
    train: list[Path]
    val: list[Path]

    def rel(self, path: Path) -> str:
        """A path as the user knows it: relative to the dataset root when inside it."""
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)


def _load_yaml(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        from . import yaml_lite

        return yaml_lite.loads(text)
    return yaml.safe_load(text)


def _parse_names(raw: Any, where: str) -> list[str]:
    if isinstance(raw, list):
        names = [str(n) for n in raw]
    elif isinstance(raw, dict):
        try:
            ids = sorted(int(k) for k in raw)
        except (TypeError, ValueError):
            raise TrainerError(f"{where}: 'names' keys must be class ids 0..n-1") from None
        if ids != list(range(len(ids))):
            raise TrainerError(f"{where}: 'names' ids must be 0..{len(ids) - 1} without gaps")
        by_id = {int(k): v for k, v in raw.items()}
        names = [str(by_id[i]) for i in ids]
    else:
        raise TrainerError(f"{where}: 'names' must be a list or a mapping {{0: name, ...}}")
    if not names:
        raise TrainerError(f"{where}: 'names' is empty")
    if len(set(names)) != len(names):
        raise TrainerError(f"{where}: class names must be unique, got {names}")
    return names


def load_dataset_spec(data: Path) -> DatasetSpec:
    """``data`` is the dataset directory (holding ``data.yaml``) or the YAML file itself."""
    yaml_path = data / "data.yaml" if data.is_dir() else data
    if not yaml_path.is_file():
        alt = data / "data.yml"
        if data.is_dir() and alt.is_file():
            yaml_path = alt
        else:
            raise TrainerError(f"{yaml_path}: dataset description not found")
    try:
        doc = _load_yaml(yaml_path)
    except (ValueError, UnicodeDecodeError) as e:
        raise TrainerError(f"{yaml_path}: cannot parse: {e}") from None
    except Exception as e:  # PyYAML's YAMLError carries the line in its text
        raise TrainerError(f"{yaml_path}: cannot parse: {e}") from None
    if not isinstance(doc, dict):
        raise TrainerError(f"{yaml_path}: expected a mapping with path, train, val, names")
    base = yaml_path.parent
    root_raw = doc.get("path")
    root = base if root_raw in (None, "") else Path(str(root_raw))
    if not root.is_absolute():
        root = (base / root).resolve()
    if "names" not in doc:
        raise TrainerError(f"{yaml_path}: 'names' is missing")
    names = _parse_names(doc["names"], str(yaml_path))
    if doc.get("nc") is not None and doc["nc"] != len(names):
        raise TrainerError(f"{yaml_path}: nc is {doc['nc']!r} but names has {len(names)} entries")

    def entries(key: str) -> list[Path]:
        raw = doc.get(key)
        if raw in (None, ""):
            return []
        items = raw if isinstance(raw, list) else [raw]
        out = []
        for item in items:
            p = Path(str(item))
            out.append(p if p.is_absolute() else root / p)
        return out

    if doc.get("train") in (None, ""):
        raise TrainerError(f"{yaml_path}: 'train' is missing")
    return DatasetSpec(yaml_path, root, names, entries("train"), entries("val"))


# ----------------------------------------------------------------------------- samples


@dataclass
class Sample:
    image: Path
    label: Path | None  # None: no label file (background image, as Ultralytics treats it)
    classes: np.ndarray  # [n] int64
    boxes: np.ndarray  # [n, 4] float32, normalized cx, cy, w, h


def label_path_for(image: Path) -> Path:
    """Ultralytics' rule: the last ``images`` directory component becomes ``labels``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def parse_label_text(text: str, nc: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``class cx cy w h`` -> (classes [n], boxes [n, 4]); errors name ``where`` and line."""
    classes: list[int] = []
    boxes: list[list[float]] = []
    tol = 1e-6
    for lineno, line in enumerate(text.splitlines(), 1):
        row = line.strip()
        if not row:
            continue
        parts = row.split()
        if len(parts) != 5:
            raise TrainerError(
                f"{where} line {lineno}: expected 5 values 'class cx cy w h', "
                f"got {len(parts)}: {row[:80]!r}"
            )
        try:
            cls_f = float(parts[0])
            values = [float(p) for p in parts[1:]]
        except ValueError:
            raise TrainerError(f"{where} line {lineno}: not a number in {row[:80]!r}") from None
        if not math.isfinite(cls_f) or cls_f != int(cls_f):
            raise TrainerError(f"{where} line {lineno}: class id {parts[0]!r} is not an integer")
        cls = int(cls_f)
        if cls < 0 or cls >= nc:
            raise TrainerError(f"{where} line {lineno}: class id {cls} out of range 0..{nc - 1}")
        if not all(math.isfinite(v) for v in values):
            raise TrainerError(f"{where} line {lineno}: coordinates must be finite numbers")
        cx, cy, w, h = values
        if not all(-tol <= v <= 1 + tol for v in values):
            raise TrainerError(
                f"{where} line {lineno}: coordinates must be normalized to 0..1, got {row[:80]!r}"
            )
        if w <= 0 or h <= 0:
            raise TrainerError(f"{where} line {lineno}: box width and height must be > 0")
        classes.append(cls)
        boxes.append([cx, cy, w, h])
    return (
        np.asarray(classes, dtype=np.int64).reshape(-1),
        np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
    )


def _list_images(spec: DatasetSpec, entry: Path) -> list[Path]:
    if entry.is_dir():
        return sorted(
            p for p in entry.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        )
    if entry.is_file() and entry.suffix == ".txt":
        out = []
        for lineno, line in enumerate(entry.read_text(encoding="utf-8").splitlines(), 1):
            s = line.strip()
            if not s:
                continue
            p = Path(s)
            p = p if p.is_absolute() else (entry.parent / p)
            if not p.is_file():
                raise TrainerError(f"{spec.rel(entry)} line {lineno}: image {s} not found")
            out.append(p)
        return out
    raise TrainerError(f"{spec.rel(entry)}: image directory or list not found")


def _orphan_labels(spec: DatasetSpec, entry: Path, images: list[Path]) -> list[Path]:
    """Label files under the split's labels directory with no image: a missing image."""
    if not entry.is_dir():
        return []
    label_dir = label_path_for(entry / "x.png").parent
    if not label_dir.is_dir() or label_dir == entry:
        return []
    have = {label_path_for(p).resolve() for p in images}
    return sorted(p for p in label_dir.rglob("*.txt") if p.resolve() not in have)


def collect_samples(spec: DatasetSpec, entries: list[Path], split: str) -> list[Sample]:
    nc = len(spec.names)
    samples: list[Sample] = []
    missing_labels = 0
    for entry in entries:
        images = _list_images(spec, entry)
        orphans = _orphan_labels(spec, entry, images)
        if orphans:
            stem = orphans[0].stem
            raise TrainerError(
                f"{spec.rel(orphans[0])}: no image '{stem}.*' in {spec.rel(entry)} "
                f"(missing image; {len(orphans)} label file(s) without an image)"
            )
        for img in images:
            lbl = label_path_for(img)
            if lbl.is_file():
                try:
                    text = lbl.read_text(encoding="utf-8")
                except UnicodeDecodeError:
                    raise TrainerError(f"{spec.rel(lbl)}: not a UTF-8 text file") from None
                classes, boxes = parse_label_text(text, nc, spec.rel(lbl))
                samples.append(Sample(img, lbl, classes, boxes))
            else:
                missing_labels += 1
                samples.append(
                    Sample(img, None, np.zeros(0, np.int64), np.zeros((0, 4), np.float32))
                )
    if missing_labels:
        log(f"{split}: {missing_labels} image(s) without a label file, treated as no objects")
    return samples


# ----------------------------------------------------------------------------- letterbox


def py_round(x: float) -> int:
    """Python's round (half to even), as Ultralytics and the runtime use."""
    return int(round(x))


@dataclass(frozen=True)
class Letterbox:
    scale: float
    left: int
    top: int
    width: int  # resized content size
    height: int
    size: int  # square network input


def compute_letterbox(w: int, h: int, size: int) -> Letterbox:
    """Ultralytics' LetterBox(auto=False, center=True), as src/vision/letterbox.ts computes it."""
    scale = min(size / h, size / w)
    rw = min(size, max(1, py_round(w * scale)))
    rh = min(size, max(1, py_round(h * scale)))
    left = py_round((size - rw) / 2 - 0.1)
    top = py_round((size - rh) / 2 - 0.1)
    return Letterbox(scale, left, top, rw, rh, size)


def _linear_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = np.arange(dst, dtype=np.float64)
    s = np.maximum((d + 0.5) * (src / dst) - 0.5, 0.0)
    lo = np.floor(s).astype(np.int64)
    clamp = lo >= src - 1
    lo[clamp] = src - 1
    s[clamp] = lo[clamp]
    hi = np.minimum(lo + 1, src - 1)
    return lo, hi, (s - lo).astype(np.float32)


def resize_bilinear(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """OpenCV INTER_LINEAR (half-pixel centres, no antialiasing), rounded to uint8: the same
    taps as the runtime's letterboxToTensor, so training sees the pixels serving sees."""
    h, w = img.shape[:2]
    if (w, h) == (width, height):
        return img
    if (w, h) == (2 * width, 2 * height):
        # Exact halving (640×480 → 320×240): the taps fall midway between two pixels, so
        # INTER_LINEAR is the mean of each 2×2 block, rounded half up; integer math is exact.
        acc = img[0::2, 0::2].astype(np.uint16)
        acc += img[1::2, 0::2]
        acc += img[0::2, 1::2]
        acc += img[1::2, 1::2]
        acc += 2
        acc >>= 2
        return acc.astype(np.uint8)
    y0, y1, fy = _linear_taps(h, height)
    x0, x1, fx = _linear_taps(w, width)
    src = img.astype(np.float32)
    rows = src[y0] * (1 - fy)[:, None, None] + src[y1] * fy[:, None, None]
    out = rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]
    return np.floor(out + 0.5).clip(0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- loading


@dataclass
class LoadedImage:
    content: np.ndarray  # uint8 [rh, rw, 3], the resized frame without padding
    lb: Letterbox
    classes: np.ndarray  # [n]
    boxes: np.ndarray  # [n, 4] float32 x1, y1, x2, y2 in network-input pixels


def read_rgb(path: Path, where: str) -> np.ndarray:
    try:
        with Image.open(path) as im:
            im.load()
            rgb = im.convert("RGB")
    except FileNotFoundError:
        raise TrainerError(f"{where}: image not found") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise TrainerError(f"{where}: cannot decode image ({e})") from None
    return np.asarray(rgb, dtype=np.uint8)


def load_sample(sample: Sample, size: int, where: str) -> LoadedImage:
    rgb = read_rgb(sample.image, where)
    h, w = rgb.shape[:2]
    lb = compute_letterbox(w, h, size)
    content = resize_bilinear(rgb, lb.width, lb.height)
    b = sample.boxes
    # Normalized -> source pixels -> input pixels (continuous coordinates), clipped to the frame.
    x1 = np.clip((b[:, 0] - b[:, 2] / 2) * w, 0, w) * lb.scale + lb.left
    y1 = np.clip((b[:, 1] - b[:, 3] / 2) * h, 0, h) * lb.scale + lb.top
    x2 = np.clip((b[:, 0] + b[:, 2] / 2) * w, 0, w) * lb.scale + lb.left
    y2 = np.clip((b[:, 1] + b[:, 3] / 2) * h, 0, h) * lb.scale + lb.top
    boxes = np.stack([x1, y1, x2, y2], 1).astype(np.float32).reshape(-1, 4)
    return LoadedImage(content, lb, sample.classes.copy(), boxes)


class ImageStore:
    """Decoded, letterboxed frames, kept in memory when they fit in ``cache_bytes``.

    Decoding everything up front also proves every image is readable before training starts.
    """

    def __init__(
        self,
        spec: DatasetSpec,
        samples: list[Sample],
        size: int,
        cache_bytes: int,
        check: Callable[[], None] | None = None,
    ) -> None:
        self.spec = spec
        self.samples = samples
        self.size = size
        self.cache: list[LoadedImage] | None = None
        est = len(samples) * size * size * 3
        if est <= cache_bytes:
            # Decoding releases the GIL (PIL, numpy): two threads keep both cores busy.
            with ThreadPoolExecutor(max_workers=2) as pool:
                self.cache = []
                chunk = 32
                for start in range(0, len(samples), chunk):
                    if check is not None:
                        check()
                    part = samples[start : start + chunk]
                    self.cache.extend(
                        pool.map(lambda s: load_sample(s, size, spec.rel(s.image)), part)
                    )
        else:
            log(f"{len(samples)} images need ~{est / 2**20:.0f} MiB: reading from disk each epoch")
            for i, s in enumerate(samples):
                if check is not None and i % 64 == 0:
                    check()
                try:
                    with Image.open(s.image) as im:
                        im.size  # noqa: B018 - reading the header proves the file is an image
                except FileNotFoundError:
                    raise TrainerError(f"{spec.rel(s.image)}: image not found") from None
                except (UnidentifiedImageError, OSError) as e:
                    raise TrainerError(f"{spec.rel(s.image)}: cannot decode image ({e})") from None

    def __len__(self) -> int:
        return len(self.samples)

    def get(self, i: int) -> LoadedImage:
        if self.cache is not None:
            return self.cache[i]
        s = self.samples[i]
        return load_sample(s, self.size, self.spec.rel(s.image))

    @property
    def instances(self) -> int:
        return int(sum(len(s.classes) for s in self.samples))


# ----------------------------------------------------------------------------- batches


@dataclass
class AugmentConfig:
    """Photometric and geometric jitter a practitioner would use for a fixed line camera:
    defects on a part surface have no preferred orientation (flips), the part sits a little
    differently each time (small scale/translation), and light drifts a little (mild colour).
    Strong jitter would hide the very drift the system must detect and fix, so it stays mild."""

    flip_lr: float = 0.5
    flip_ud: float = 0.5
    scale: float = 0.10  # zoom factor in [1 - scale, 1 + scale]
    translate: float = 0.05  # shift up to this fraction of the input size
    affine_p: float = 0.7  # probability of resampling at all (else pixels stay exact)
    brightness: float = 0.12  # multiplicative gain in [1 - b, 1 + b]
    contrast: float = 0.12
    saturation: float = 0.20
    channel_gain: float = 0.03  # per-channel gain (colour cast)
    # Low light, for fine-tunes that replay earlier (bright) frames next to new dark ones: with
    # this probability a frame whose mean gray is ≥ low_light_min_mean is dimmed by a gain in
    # low_light_gain, given a colour-temperature shift of up to ±low_light_cast and sensor noise
    # of up to low_light_noise (σ, 0..1 scale). 0 (the default) draws nothing: runs without it
    # are bit-identical to before.
    low_light: float = 0.0
    low_light_gain: tuple[float, float] = (0.3, 0.7)
    low_light_cast: float = 0.15
    low_light_noise: float = 0.03
    low_light_min_mean: float = 0.3

    @staticmethod
    def none() -> "AugmentConfig":
        return AugmentConfig(0, 0, 0, 0, 0, 0, 0, 0, 0)


@dataclass
class Batch:
    images: torch.Tensor  # [B, 3, S, S] float32 0..1
    targets: torch.Tensor  # [B, M, 5]: class, x1, y1, x2, y2 (input pixels); padding rows class -1
    indices: list[int] = field(default_factory=list)


def _box_candidates(before: np.ndarray, after: np.ndarray, scale: float) -> np.ndarray:
    """Keep boxes still ≥ 2 px and ≥ 10% of their (scaled) area after the crop (Ultralytics)."""
    w1, h1 = before[:, 2] - before[:, 0], before[:, 3] - before[:, 1]
    w2, h2 = after[:, 2] - after[:, 0], after[:, 3] - after[:, 1]
    area_ratio = (w2 * h2) / np.maximum(w1 * h1 * scale * scale, 1e-9)
    return (w2 > 2) & (h2 > 2) & (area_ratio > 0.1)


@dataclass
class _SampleAug:
    saturation: float = 1.0
    contrast: float = 1.0
    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)
    flip_lr: bool = False
    flip_ud: bool = False
    affine: tuple[float, float, float] | None = None  # scale, tx, ty (pixels)
    dim: tuple[float, float, float] | None = None  # low light: per-channel gain
    noise: float = 0.0
    noise_seed: int = 0


def _draw(aug: AugmentConfig, rng: np.random.Generator, size: int) -> _SampleAug:
    """All random choices for one sample, drawn in a fixed order (determinism)."""
    a = _SampleAug()
    a.saturation = 1 + rng.uniform(-aug.saturation, aug.saturation) if aug.saturation else 1.0
    a.contrast = 1 + rng.uniform(-aug.contrast, aug.contrast) if aug.contrast else 1.0
    g = np.ones(3)
    if aug.brightness:
        g *= 1 + rng.uniform(-aug.brightness, aug.brightness)
    if aug.channel_gain:
        g *= 1 + rng.uniform(-aug.channel_gain, aug.channel_gain, 3)
    a.gain = (float(g[0]), float(g[1]), float(g[2]))
    a.flip_lr = bool(rng.random() < aug.flip_lr)
    a.flip_ud = bool(rng.random() < aug.flip_ud)
    if aug.affine_p > 0 and rng.random() < aug.affine_p:
        sc = 1 + rng.uniform(-aug.scale, aug.scale)
        tx, ty = rng.uniform(-aug.translate, aug.translate, 2) * size
        a.affine = (float(sc), float(tx), float(ty))
    if aug.low_light > 0 and rng.random() < aug.low_light:
        dim = rng.uniform(*aug.low_light_gain)
        t = rng.uniform(-aug.low_light_cast, aug.low_light_cast)  # > 0: colder (bluer)
        a.dim = (float(dim * (1 - t)), float(dim * (1 - 0.2 * t)), float(dim * (1 + t)))
        a.noise = float(rng.uniform(0.3, 1.0) * aug.low_light_noise)
        a.noise_seed = int(rng.integers(2**31))
    return a


_GRAY = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def make_batch(
    store: ImageStore,
    indices: list[int],
    aug: AugmentConfig | None,
    rng: np.random.Generator | None,
) -> Batch:
    """Letterboxed (and, for training, augmented) images and padded targets for ``indices``.

    Pixel work is done on the whole batch with torch: colour jitter on the frame only (the
    letterbox padding stays exactly gray 114, as at serving time), then flips, then one
    bilinear resampling for the samples that get a scale/translation jitter.
    """
    size = store.size
    fill = LETTERBOX_FILL / 255
    n = len(indices)
    canvas = torch.full((n, 3, size, size), LETTERBOX_FILL, dtype=torch.uint8)
    items = [store.get(i) for i in indices]
    for k, item in enumerate(items):
        lb = item.lb
        canvas[k, :, lb.top : lb.top + lb.height, lb.left : lb.left + lb.width] = torch.from_numpy(
            item.content
        ).permute(2, 0, 1)
    x = canvas.float().div_(255)
    plans = [_draw(aug, rng, size) for _ in items] if aug is not None and rng is not None else []

    all_boxes: list[np.ndarray] = []
    all_classes: list[np.ndarray] = []
    if not plans:
        all_boxes = [it.boxes for it in items]
        all_classes = [it.classes for it in items]
    else:
        # Saturation s, contrast c about the frame's mean gray m, per-channel gain g, folded
        # into one affine map per channel: g·c·s·x + g·c·(1 - s)·gray + g·(1 - c)·m.
        sat = torch.tensor([p.saturation for p in plans]).view(n, 1, 1, 1)
        con = torch.tensor([p.contrast for p in plans]).view(n, 1, 1, 1)
        gain = torch.tensor([p.gain for p in plans], dtype=torch.float32).view(n, 3, 1, 1)
        gray = (x * _GRAY).sum(1, keepdim=True)
        means = torch.stack(
            [
                gray[
                    k,
                    :,
                    it.lb.top : it.lb.top + it.lb.height,
                    it.lb.left : it.lb.left + it.lb.width,
                ].mean()
                for k, it in enumerate(items)
            ]
        ).view(n, 1, 1, 1)
        x.mul_(gain * con * sat).addcmul_(gray, gain * con * (1 - sat)).add_(
            gain * (1 - con) * means
        )
        x.clamp_(0, 1)
        min_mean = aug.low_light_min_mean if aug is not None else 1.0
        for k, p in enumerate(plans):  # low light, on bright frames only
            if p.dim is not None and float(means[k]) >= min_mean:
                x[k].mul_(torch.tensor(p.dim).view(3, 1, 1))
                if p.noise > 0:
                    gen = torch.Generator().manual_seed(p.noise_seed)
                    x[k].add_(torch.randn(x[k].shape, generator=gen), alpha=p.noise)
                x[k].clamp_(0, 1)
        for k, it in enumerate(items):  # restore the padding to exact gray
            lb = it.lb
            x[k, :, : lb.top] = fill
            x[k, :, lb.top + lb.height :] = fill
            x[k, :, :, : lb.left] = fill
            x[k, :, :, lb.left + lb.width :] = fill

        warp: list[tuple[int, float, float, float]] = []
        for k, (it, p) in enumerate(zip(items, plans)):
            boxes, classes = it.boxes.copy(), it.classes
            if p.flip_lr:
                x[k] = x[k].flip(-1)
                boxes[:, [0, 2]] = size - boxes[:, [2, 0]]
            if p.flip_ud:
                x[k] = x[k].flip(-2)
                boxes[:, [1, 3]] = size - boxes[:, [3, 1]]
            if p.affine is not None:
                sc, tx, ty = p.affine
                c = size / 2
                before = boxes.copy()
                # x' = (x - c) * s + c + t, in continuous pixel coordinates.
                boxes = (boxes - c) * sc + c + np.array([tx, ty, tx, ty], np.float32)
                clipped = boxes.clip(0, size)
                keep = _box_candidates(before, clipped, sc)
                boxes, classes = clipped[keep], classes[keep]
                warp.append((k, sc, tx, ty))
            all_boxes.append(boxes.astype(np.float32))
            all_classes.append(classes)
        if warp:
            # grid_sample coordinates are in [-1, 1] (align_corners=False): output pixel u
            # samples the input at (u - t_n) / s. The map is axis-aligned, so the grid is an
            # outer combination of one row and one column per sample.
            u = (torch.arange(size, dtype=torch.float32) + 0.5) * (2 / size) - 1
            sel = torch.tensor([w[0] for w in warp])
            sc_t = torch.tensor([w[1] for w in warp]).view(-1, 1)
            gx = (u.view(1, -1) - torch.tensor([2 * w[2] / size for w in warp]).view(-1, 1)) / sc_t
            gy = (u.view(1, -1) - torch.tensor([2 * w[3] / size for w in warp]).view(-1, 1)) / sc_t
            grid = torch.stack(
                (
                    gx.view(-1, 1, size).expand(-1, size, size),
                    gy.view(-1, size, 1).expand(-1, size, size),
                ),
                -1,
            )
            # grid_sample pads with zeros: shift so that zero is the letterbox gray.
            warped = F.grid_sample(
                x[sel] - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False
            )
            x[sel] = warped.add_(fill).clamp_(0, 1)

    m = max([len(b) for b in all_boxes] + [1])
    targets = torch.full((n, m, 5), -1.0)
    for k, (b, c) in enumerate(zip(all_boxes, all_classes)):
        if len(b):
            targets[k, : len(b), 0] = torch.from_numpy(c.astype(np.float32))
            targets[k, : len(b), 1:] = torch.from_numpy(b)
    return Batch(x, targets, list(indices))


def iterate_batches(
    store: ImageStore,
    batch_size: int,
    order: list[int],
    aug: AugmentConfig | None,
    rng: np.random.Generator | None,
) -> Iterator[Batch]:
    for start in range(0, len(order), batch_size):
        yield make_batch(store, order[start : start + batch_size], aug, rng)
