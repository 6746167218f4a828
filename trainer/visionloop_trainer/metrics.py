"""A quick validation mAP for ``metrics.json``: per-class NMS on the exported layout and
COCO-style average precision (101-point interpolation) at IoU 0.5 and 0.5:0.95.

The authoritative evaluation is the TypeScript evaluator running the deployed ONNX file; this
one exists so a training run reports how it went. Pure numpy; never touches files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of xyxy boxes a [n, 4] and b [m, 4] -> [n, m]."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


def nms(
    output: np.ndarray,
    conf: float = 0.001,
    iou: float = 0.7,
    max_candidates: int = 1000,
    max_det: int = 300,
) -> np.ndarray:
    """One image's ``[4 + nc, N]`` output -> detections [k, 6]: x1, y1, x2, y2, score, class.

    Class-aware greedy NMS on the best class per point (Ultralytics' non-multi-label mode).
    """
    boxes_c = output[:4].T
    scores_all = output[4:].T
    cls = scores_all.argmax(1)
    score = scores_all[np.arange(len(cls)), cls]
    keep = score > conf
    if not keep.any():
        return np.zeros((0, 6), np.float32)
    boxes_c, cls, score = boxes_c[keep], cls[keep], score[keep]
    order = np.argsort(-score, kind="stable")[:max_candidates]
    boxes_c, cls, score = boxes_c[order], cls[order], score[order]
    xyxy = np.concatenate(
        [boxes_c[:, :2] - boxes_c[:, 2:] / 2, boxes_c[:, :2] + boxes_c[:, 2:] / 2], 1
    )
    # Offsetting each class far apart makes one pass of NMS class-aware.
    offset = xyxy + (cls[:, None] * 10000.0)
    remaining = np.arange(len(score))
    kept: list[int] = []
    while len(remaining) and len(kept) < max_det:
        i = remaining[0]
        kept.append(int(i))
        rest = remaining[1:]
        if not len(rest):
            break
        ious = iou_matrix(offset[i : i + 1], offset[rest])[0]
        remaining = rest[ious <= iou]
    k = np.asarray(kept, np.int64)
    return np.concatenate([xyxy[k], score[k, None], cls[k, None].astype(np.float32)], 1).astype(
        np.float32
    )


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """COCO's 101-point interpolated AP (pycocotools' accumulate): at each recall level
    0, 0.01, ..., 1 the best precision at that recall or beyond, 0 past the last recall."""
    if len(recall) == 0:
        return 0.0
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
    vals = np.where(idx < len(envelope), envelope[np.minimum(idx, len(envelope) - 1)], 0.0)
    return float(vals.mean())


@dataclass
class ImageResult:
    detections: np.ndarray  # [k, 6]
    gt_boxes: np.ndarray  # [g, 4]
    gt_classes: np.ndarray  # [g]


def match_detections(res: ImageResult) -> np.ndarray:
    """[k, T] True where detection k is a true positive at IoU threshold T (COCO greedy:
    detections in descending score take the best-IoU unmatched gt of their class)."""
    det = res.detections
    tp = np.zeros((len(det), len(IOU_THRESHOLDS)), bool)
    if len(det) == 0 or len(res.gt_boxes) == 0:
        return tp
    ious = iou_matrix(det[:, :4], res.gt_boxes)
    same = det[:, 5:6].astype(np.int64) == res.gt_classes[None, :]
    ious = np.where(same, ious, 0.0)
    order = np.argsort(-det[:, 4], kind="stable")
    for t, thr in enumerate(IOU_THRESHOLDS):
        taken = np.zeros(len(res.gt_boxes), bool)
        for d in order:
            cand = np.where(taken, -1.0, ious[d])
            g = int(cand.argmax())
            if cand[g] >= thr:
                taken[g] = True
                tp[d, t] = True
    return tp


def evaluate(results: list[ImageResult], names: list[str], conf_threshold: float = 0.25) -> dict:
    """mAP@0.5, mAP@0.5:0.95, per-class AP, and precision/recall at ``conf_threshold``."""
    nc = len(names)
    tps, scores, classes = [], [], []
    n_gt = np.zeros(nc, np.int64)
    for r in results:
        tps.append(match_detections(r))
        scores.append(r.detections[:, 4])
        classes.append(r.detections[:, 5].astype(np.int64))
        n_gt += np.bincount(r.gt_classes.astype(np.int64), minlength=nc)[:nc]
    tp = np.concatenate(tps) if tps else np.zeros((0, len(IOU_THRESHOLDS)), bool)
    score = np.concatenate(scores) if scores else np.zeros(0)
    cls = np.concatenate(classes) if classes else np.zeros(0, np.int64)

    ap = np.zeros((nc, len(IOU_THRESHOLDS)))
    present = n_gt > 0
    tp_at, fp_at = 0, 0
    for c in range(nc):
        sel = cls == c
        order = np.argsort(-score[sel], kind="stable")
        tpc = tp[sel][order]
        sc = score[sel][order]
        above = sc >= conf_threshold
        tp_at += int(tpc[above, 0].sum())
        fp_at += int((~tpc[above, 0]).sum())
        if n_gt[c] == 0:
            continue
        ctp = np.cumsum(tpc, 0)
        cfp = np.cumsum(~tpc, 0)
        recall = ctp / n_gt[c]
        precision = ctp / np.maximum(ctp + cfp, 1)
        for t in range(len(IOU_THRESHOLDS)):
            ap[c, t] = average_precision(recall[:, t], precision[:, t]) if len(tpc) else 0.0
    total_gt = int(n_gt.sum())
    per_class = {
        names[c]: {
            "ap50": float(ap[c, 0]),
            "ap50_95": float(ap[c].mean()),
            "instances": int(n_gt[c]),
        }
        for c in range(nc)
    }
    return {
        "map50": float(ap[present, 0].mean()) if present.any() else 0.0,
        "map50_95": float(ap[present].mean()) if present.any() else 0.0,
        "precision": tp_at / max(tp_at + fp_at, 1),
        "recall": tp_at / max(total_gt, 1),
        "conf_threshold": conf_threshold,
        "images": len(results),
        "instances": total_gt,
        "per_class": per_class,
    }
