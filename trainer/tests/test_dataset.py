"""Dataset reading: data.yaml shapes, label validation messages, the letterbox geometry the
runtime uses, and augmentation that moves boxes together with the pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from visionloop_trainer import yaml_lite
from visionloop_trainer.dataset import (
    AugmentConfig,
    ImageStore,
    LoadedImage,
    compute_letterbox,
    load_dataset_spec,
    make_batch,
    parse_label_text,
    resize_bilinear,
)
from visionloop_trainer.events import TrainerError


def test_yaml_lite_reads_the_data_yaml_shapes() -> None:
    doc = yaml_lite.loads(
        "# dataset\npath: /data/ds  # root\ntrain: images/train\nval: 'images/val'\n"
        'names:\n  0: scratch\n  1: crack\n  2: "dent"\n  3: stain\nnc: 4\n'
    )
    assert doc == {
        "path": "/data/ds",
        "train": "images/train",
        "val": "images/val",
        "names": {0: "scratch", 1: "crack", 2: "dent", 3: "stain"},
        "nc": 4,
    }
    assert yaml_lite.loads("names: [scratch, crack]\n")["names"] == ["scratch", "crack"]
    assert yaml_lite.loads("names: {0: a, 1: b}\n")["names"] == {0: "a", 1: "b"}
    assert yaml_lite.loads("names:\n  - a\n  - b\ntrain: [x, y]\n") == {
        "names": ["a", "b"],
        "train": ["x", "y"],
    }
    with pytest.raises(ValueError, match="line 2"):
        yaml_lite.loads("names:\nthis is not yaml\n")


def test_data_yaml_paths_resolve_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("train: images/train\nnames: [a, b]\n")
    spec = load_dataset_spec(tmp_path)
    assert spec.root == tmp_path.resolve()
    assert spec.train == [tmp_path.resolve() / "images/train"]
    assert spec.val == [] and spec.names == ["a", "b"]
    (tmp_path / "data.yaml").write_text("train: images/train\nnames:\n  0: a\n  2: b\n")
    with pytest.raises(TrainerError, match="without gaps"):
        load_dataset_spec(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 0.5 0.5 0.1 0.1\n1 0.5 0.5 0.1\n", "x.txt line 2: expected 5 values"),
        ("0 0.5 0.5 0.1 0.1\n\n7 0.5 0.5 0.1 0.1\n", "x.txt line 3: class id 7 out of range 0..3"),
        ("-1 0.5 0.5 0.1 0.1\n", "x.txt line 1: class id -1 out of range 0..3"),
        ("0.5 0.5 0.5 0.1 0.1\n", "x.txt line 1: class id '0.5' is not an integer"),
        ("0 0.5 abc 0.1 0.1\n", "x.txt line 1: not a number"),
        ("0 1.5 0.5 0.1 0.1\n", "x.txt line 1: coordinates must be normalized"),
        ("0 0.5 0.5 0 0.1\n", "x.txt line 1: box width and height must be > 0"),
        ("0 nan 0.5 0.1 0.1\n", "x.txt line 1: coordinates must be finite"),
    ],
)
def test_bad_label_rows_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(TrainerError) as e:
        parse_label_text(text, 4, "labels/train/x.txt")
    assert message in e.value.message
    assert e.value.message.startswith("labels/train/x.txt line ")


def test_good_labels_and_empty_file() -> None:
    cls, boxes = parse_label_text("2 0.5 0.25 0.1 0.2\n0 0.1 0.1 0.05 0.05\n", 4, "x")
    assert cls.tolist() == [2, 0]
    assert np.allclose(boxes[0], [0.5, 0.25, 0.1, 0.2])
    cls, boxes = parse_label_text("", 4, "x")
    assert cls.shape == (0,) and boxes.shape == (0, 4)


def test_letterbox_geometry_matches_ultralytics() -> None:
    lb = compute_letterbox(640, 480, 320)
    assert (lb.scale, lb.width, lb.height, lb.left, lb.top) == (0.5, 320, 240, 0, 40)
    # Odd padding: 48 rows to split -> round(23.9) = 24 on top (Ultralytics: round(dh - 0.1)).
    lb = compute_letterbox(100, 85, 128)
    assert (lb.width, lb.height) == (128, 109)
    assert (lb.left, lb.top) == (0, round(19 / 2 - 0.1))


def test_resize_matches_opencv_inter_linear_on_an_exact_halving() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    out = resize_bilinear(img, 32, 24)
    # Half-pixel centres: each output pixel is the mean of a 2×2 block (rounded half up).
    blocks = img.reshape(24, 2, 32, 2, 3).astype(np.float64).mean((1, 3))
    assert np.array_equal(out, np.floor(blocks + 0.5).astype(np.uint8))


class _OneImage(ImageStore):
    def __init__(self, item: LoadedImage, size: int) -> None:
        self.item, self.size = item, size

    def __len__(self) -> int:
        return 1

    def get(self, i: int) -> LoadedImage:
        return self.item


def test_augmented_boxes_follow_the_pixels() -> None:
    size = 128
    lb = compute_letterbox(160, 120, size)  # 128×96 content, 16 px pad top and bottom
    content = np.full((lb.height, lb.width, 3), 60, np.uint8)
    content[30:50, 20:44] = 250  # one bright defect
    box = np.array([[20 + lb.left, 30 + lb.top, 44 + lb.left, 50 + lb.top]], np.float32)
    store = _OneImage(LoadedImage(content, lb, np.array([1]), box), size)
    aug = AugmentConfig(
        affine_p=1.0,
        scale=0.2,
        translate=0.1,
        brightness=0,
        contrast=0,
        saturation=0,
        channel_gain=0,
    )
    rng = np.random.default_rng(7)
    flips_seen = set()
    for _ in range(12):
        b = make_batch(store, [0], aug, rng)
        img = b.images[0, 0].numpy()
        t = b.targets[0]
        assert t.shape == (1, 5) and int(t[0, 0]) == 1
        ys, xs = np.nonzero(img > 0.7)
        x1, y1, x2, y2 = t[0, 1:].tolist()
        # The bright pixels' extent (pixel centres) lies within a pixel of the target box.
        assert abs(xs.min() - x1) <= 1.5 and abs(xs.max() + 1 - x2) <= 1.5
        assert abs(ys.min() - y1) <= 1.5 and abs(ys.max() + 1 - y2) <= 1.5
        flips_seen.add((x1 + x2 > size, y1 + y2 > size))
        # Padding stays the letterbox gray where nothing was moved in.
        assert abs(float(img[0, size // 2]) - 114 / 255) < 0.02
    assert len(flips_seen) >= 3  # flips in both directions were exercised


def test_low_light_dims_bright_frames_only_and_keeps_the_padding() -> None:
    size = 128
    lb = compute_letterbox(160, 120, size)
    still = dict(flip_lr=0, flip_ud=0, affine_p=0, brightness=0, contrast=0, saturation=0)
    plain = AugmentConfig(**still, channel_gain=0)  # type: ignore[arg-type]
    dim = AugmentConfig(**still, channel_gain=0, low_light=1.0)  # type: ignore[arg-type]
    boxes = np.zeros((0, 4), np.float32)

    def batch(level: int, aug: AugmentConfig, seed: int) -> np.ndarray:
        content = np.full((lb.height, lb.width, 3), level, np.uint8)
        store = _OneImage(LoadedImage(content, lb, np.zeros(0, np.int64), boxes), size)
        return make_batch(store, [0], aug, np.random.default_rng(seed)).images[0].numpy()

    frame = slice(lb.top, lb.top + lb.height)
    bright = batch(180, dim, 3)
    mean = float(bright[:, frame].mean())
    # Dimmed by a gain in 0.3..0.7 (± the colour shift), with noise: not a flat frame any more.
    assert 0.3 * 180 / 255 * 0.85 <= mean <= 0.7 * 180 / 255 * 1.15
    assert float(bright[:, frame].std()) > 0.003
    assert abs(float(bright[0, 0, 0]) - 114 / 255) < 1e-6  # padding untouched
    assert np.array_equal(bright, batch(180, dim, 3))  # seeded: the same draw, the same pixels
    # A frame already dark (mean gray < 0.3) is left as it is.
    assert np.allclose(batch(50, dim, 3), batch(50, plain, 3))
    # low_light = 0 draws nothing: the same pixels as before the option existed.
    assert np.array_equal(batch(180, plain, 3)[:, frame], np.full_like(bright[:, frame], 180 / 255))


def test_without_augmentation_the_batch_is_the_letterboxed_frame() -> None:
    lb = compute_letterbox(160, 120, 128)
    content = (
        np.arange(lb.height * lb.width * 3, dtype=np.int64).reshape(lb.height, lb.width, 3) % 251
    )
    item = LoadedImage(
        content.astype(np.uint8), lb, np.zeros(0, np.int64), np.zeros((0, 4), np.float32)
    )
    b = make_batch(_OneImage(item, 128), [0], None, None)
    img = (b.images[0].permute(1, 2, 0).numpy() * 255).round().astype(np.int64)
    assert np.array_equal(img[lb.top : lb.top + lb.height], content)
    assert (img[: lb.top] == 114).all() and (img[lb.top + lb.height :] == 114).all()
    assert b.targets.shape == (1, 1, 5) and float(b.targets[0, 0, 0]) == -1.0


def test_resize_general_ratio_matches_a_per_pixel_inter_linear() -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    out = resize_bilinear(img, 32, 19)
    src = img.astype(np.float64)

    def tap(d: int, src_n: int, dst_n: int) -> tuple[int, int, float]:
        s = max((d + 0.5) * src_n / dst_n - 0.5, 0.0)
        lo = min(int(np.floor(s)), src_n - 1)
        if lo == src_n - 1:
            s = lo
        return lo, min(lo + 1, src_n - 1), s - lo

    for y in range(19):
        y0, y1, fy = tap(y, 30, 19)
        for x in range(32):
            x0, x1, fx = tap(x, 50, 32)
            v = (src[y0, x0] * (1 - fx) + src[y0, x1] * fx) * (1 - fy) + (
                src[y1, x0] * (1 - fx) + src[y1, x1] * fx
            ) * fy
            # float32 in the implementation: equal up to one gray level at exact halves.
            assert np.abs(out[y, x].astype(int) - np.floor(v + 0.5)).max() <= 1


def test_low_light_out_of_range_is_refused(tmp_path: Path) -> None:
    from visionloop_trainer.train import TrainOptions, _check_options

    _check_options(TrainOptions(data=tmp_path, out=tmp_path, low_light=0.5))
    with pytest.raises(TrainerError, match=r"--low-light must be within 0\.\.1, got 1\.5"):
        _check_options(TrainOptions(data=tmp_path, out=tmp_path, low_light=1.5))
