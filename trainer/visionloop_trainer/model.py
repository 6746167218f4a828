"""The VisionLoop detector: a compact YOLOv8-style anchor-free network for CPU inference.

Backbone (Conv-BN-SiLU and C2f blocks, SPPF at the end), a PAN neck, and decoupled heads at
strides 8/16/32 that predict, for every grid point, a distribution over distances
(left, top, right, bottom) in stride units (DFL, ``reg_max`` bins) and one logit per class.

In training mode ``forward`` returns the raw per-level maps for the loss; in export mode it
returns the YOLOv8 layout ``[B, 4 + nc, N]``: cx, cy, w, h in input pixels, then per-class
sigmoid scores (no objectness), N = sum over strides of (H/s)*(W/s).

This module owns the architecture only: it never reads files or prints.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

ARCH_NAME = "visionloop-det-v1"
STRIDES = (8, 16, 32)


@dataclass
class ModelConfig:
    """Everything needed to rebuild the network; stored in ``weights.pt`` for warm starts."""

    nc: int
    # Output channels of: stem (stride 2), stage strides 4, 8, 16, 32.
    widths: tuple[int, ...] = (16, 32, 48, 96, 128)
    # C2f bottleneck repeats in the backbone stages at strides 4, 8, 16, 32.
    depths: tuple[int, ...] = (1, 1, 1, 1)
    # Width of the (shared-shape) head branches; 0 = derive from the neck widths.
    head_width: int = 48
    reg_max: int = 16
    arch: str = ARCH_NAME
    strides: tuple[int, ...] = field(default=STRIDES)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["widths"] = list(self.widths)
        d["depths"] = list(self.depths)
        d["strides"] = list(self.strides)
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "ModelConfig":
        if d.get("arch") != ARCH_NAME:
            raise ValueError(f"architecture {d.get('arch')!r} is not {ARCH_NAME!r}")
        return ModelConfig(
            nc=int(d["nc"]),
            widths=tuple(int(v) for v in d["widths"]),
            depths=tuple(int(v) for v in d["depths"]),
            head_width=int(d["head_width"]),
            reg_max=int(d["reg_max"]),
            arch=str(d["arch"]),
            strides=tuple(int(v) for v in d.get("strides", STRIDES)),
        )


class Conv(nn.Module):
    """Conv2d (no bias) + BatchNorm + SiLU, 'same' padding."""

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, k // 2, groups=groups, bias=False)
        # eps 1e-3 as Ultralytics; momentum 0.1 (torch's default) rather than its 0.03, because
        # a fine-tune here is a few hundred updates: 0.03 leaves the running statistics of a
        # short run far from the data and the eval-mode model nearly blind.
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.1)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c: int, shortcut: bool = True) -> None:
        super().__init__()
        self.cv1 = Conv(c, c, 3)
        self.cv2 = Conv(c, c, 3)
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """YOLOv8's CSP block: split, n bottlenecks on one half, concatenate every stage, fuse."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        self.c = c_out // 2
        self.cv1 = Conv(c_in, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c_out, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): three chained 5x5 max-pools, concatenated."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        c_ = c_in // 2
        self.cv1 = Conv(c_in, c_, 1)
        self.cv2 = Conv(c_ * 4, c_out, 1)
        self.pool = nn.MaxPool2d(5, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        return self.cv2(torch.cat((x, y1, y2, self.pool(y2)), 1))


class Backbone(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        w, d = cfg.widths, cfg.depths
        self.stem = Conv(3, w[0], 3, 2)
        self.stage2 = nn.Sequential(Conv(w[0], w[1], 3, 2), C2f(w[1], w[1], d[0]))
        self.stage3 = nn.Sequential(Conv(w[1], w[2], 3, 2), C2f(w[2], w[2], d[1]))
        self.stage4 = nn.Sequential(Conv(w[2], w[3], 3, 2), C2f(w[3], w[3], d[2]))
        self.stage5 = nn.Sequential(Conv(w[3], w[4], 3, 2), C2f(w[4], w[4], d[3]), SPPF(w[4], w[4]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p3 = self.stage3(self.stage2(self.stem(x)))
        p4 = self.stage4(p3)
        p5 = self.stage5(p4)
        return p3, p4, p5


class Neck(nn.Module):
    """PAN: top-down (upsample + C2f) then bottom-up (stride-2 conv + C2f), no shortcuts."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c3, c4, c5 = cfg.widths[2], cfg.widths[3], cfg.widths[4]
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.td4 = C2f(c5 + c4, c4, 1, shortcut=False)
        self.td3 = C2f(c4 + c3, c3, 1, shortcut=False)
        self.down3 = Conv(c3, c3, 3, 2)
        self.bu4 = C2f(c3 + c4, c4, 1, shortcut=False)
        self.down4 = Conv(c4, c4, 3, 2)
        self.bu5 = C2f(c4 + c5, c5, 1, shortcut=False)
        self.out_channels = (c3, c4, c5)

    def forward(self, feats: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> list[torch.Tensor]:
        p3, p4, p5 = feats
        t4 = self.td4(torch.cat((self.up(p5), p4), 1))
        n3 = self.td3(torch.cat((self.up(t4), p3), 1))
        n4 = self.bu4(torch.cat((self.down3(n3), t4), 1))
        n5 = self.bu5(torch.cat((self.down4(n4), p5), 1))
        return [n3, n4, n5]


class Head(nn.Module):
    """Decoupled per-level heads: a box branch (4 * reg_max DFL logits) and a class branch."""

    def __init__(self, cfg: ModelConfig, in_channels: tuple[int, ...]) -> None:
        super().__init__()
        self.nc = cfg.nc
        self.reg_max = cfg.reg_max
        self.strides = cfg.strides
        hb = cfg.head_width or max(16, in_channels[0] // 2, 4 * cfg.reg_max)
        hc = cfg.head_width or max(in_channels[0] // 2, cfg.nc)
        self.box = nn.ModuleList(
            nn.Sequential(Conv(c, hb, 3), Conv(hb, hb, 3), nn.Conv2d(hb, 4 * cfg.reg_max, 1))
            for c in in_channels
        )
        self.cls = nn.ModuleList(
            nn.Sequential(Conv(c, hc, 3), Conv(hc, hc, 3), nn.Conv2d(hc, cfg.nc, 1))
            for c in in_channels
        )
        self.init_biases()

    def init_biases(self) -> None:
        """Priors. Classes: ~5 objects per 640² image (Ultralytics), so class logits start very
        negative. Boxes: each side's distance starts as a geometric distribution with mean ~1.5
        strides, i.e. boxes of ~3 strides (24 px at stride 8, 96 px at stride 32). Ultralytics'
        uniform start (mean 7.5 of 16 bins, 120-px boxes at stride 8) overlaps a 15-px defect
        with IoU ~0.02, which makes its task-aligned targets ~0 and stalls learning."""
        decay = 0.5  # p_i ∝ exp(-0.5 i): mean ≈ 1.54 bins
        for box, cls, s in zip(self.box, self.cls, self.strides):
            bins = torch.arange(self.reg_max, dtype=torch.float32, device=box[-1].bias.device)
            box[-1].bias.data[:] = (-decay * bins).repeat(4)
            cls[-1].bias.data[:] = math.log(5 / self.nc / (640 / s) ** 2)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per level: [B, 4*reg_max + nc, H, W]."""
        return [torch.cat((b(x), c(x)), 1) for x, b, c in zip(feats, self.box, self.cls)]


def make_anchors(
    shapes: list[tuple[int, int]],
    strides: tuple[int, ...],
    dtype: torch.dtype = torch.float32,
    device: torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grid-cell centres in grid units ([N, 2], x then y, +0.5) and each point's stride ([N, 1]),
    on ``device`` (the CPU by default)."""
    points, stride_col = [], []
    for (h, w), s in zip(shapes, strides):
        sy, sx = torch.meshgrid(
            torch.arange(h, dtype=dtype, device=device) + 0.5,
            torch.arange(w, dtype=dtype, device=device) + 0.5,
            indexing="ij",
        )
        points.append(torch.stack((sx, sy), -1).view(-1, 2))
        stride_col.append(torch.full((h * w, 1), float(s), dtype=dtype, device=device))
    return torch.cat(points), torch.cat(stride_col)


def dfl_expectation(dist_logits: torch.Tensor, reg_max: int) -> torch.Tensor:
    """[..., 4 * reg_max] DFL logits -> [..., 4] expected distances in stride units."""
    shape = dist_logits.shape[:-1]
    prob = dist_logits.view(*shape, 4, reg_max).softmax(-1)
    bins = torch.arange(reg_max, dtype=prob.dtype, device=prob.device)
    return (prob * bins).sum(-1)


def dist_to_xyxy(dist: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """(l, t, r, b) distances from points -> (x1, y1, x2, y2), same units as the inputs."""
    lt, rb = dist.chunk(2, -1)
    return torch.cat((points - lt, points + rb), -1)


class Detector(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg)
        self.neck = Neck(cfg)
        self.head = Head(cfg, self.neck.out_channels)
        # When True, forward() returns the exported YOLOv8 layout instead of raw maps.
        self.export_mode = False

    @property
    def nc(self) -> int:
        return self.cfg.nc

    def forward_raw(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.head(self.neck(self.backbone(x)))

    def forward(self, x: torch.Tensor) -> Any:
        raw = self.forward_raw(x)
        if not self.export_mode:
            return raw
        return self.decode(raw)

    def decode(self, raw: list[torch.Tensor]) -> torch.Tensor:
        """Raw level maps -> [B, 4 + nc, N]: cx, cy, w, h (input pixels), class sigmoids."""
        b = raw[0].shape[0]
        no = 4 * self.cfg.reg_max + self.cfg.nc
        shapes = [(int(r.shape[2]), int(r.shape[3])) for r in raw]
        points, stride = make_anchors(shapes, self.cfg.strides, raw[0].dtype, raw[0].device)
        flat = torch.cat([r.reshape(b, no, -1) for r in raw], 2)  # [B, no, N]
        dist_logits, cls_logits = flat.split((4 * self.cfg.reg_max, self.cfg.nc), 1)
        # [B, 4, reg_max, N] softmax over bins, expectation -> [B, 4, N]
        prob = dist_logits.reshape(b, 4, self.cfg.reg_max, -1).softmax(2)
        bins = torch.arange(self.cfg.reg_max, dtype=prob.dtype, device=prob.device)
        bins = bins.view(1, 1, -1, 1)
        dist = (prob * bins).sum(2)
        pts = points.t().unsqueeze(0)  # [1, 2, N]
        lt, rb = dist[:, :2], dist[:, 2:]
        x1y1 = pts - lt
        x2y2 = pts + rb
        st = stride.t().unsqueeze(0)  # [1, 1, N]
        cxcy = (x1y1 + x2y2) / 2 * st
        wh = (x2y2 - x1y1) * st
        return torch.cat((cxcy, wh, cls_logits.sigmoid()), 1)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_gflops(model: Detector, imgsz: int) -> float:
    """GFLOPs of one forward at imgsz×imgsz, in Ultralytics' convention (2 × multiply-adds)."""
    macs = 0

    def hook(m: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
            macs += out.numel() * k

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            device = next(model.parameters()).device
            model.forward_raw(torch.zeros(1, 3, imgsz, imgsz, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return 2 * macs / 1e9
