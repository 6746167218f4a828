#!/usr/bin/env python3
"""Compare VisionLoop's COCO metrics with the official COCO evaluation (pycocotools).

    python3 scripts/coco-compare.py ANNOTATIONS.json RESULTS.json [--cli "node bin/visionloop.js"]

Runs pycocotools' COCOeval (iouType 'bbox') and `visionloop eval --predictions RESULTS.json
--data ANNOTATIONS.json --json` on the same files, prints both side by side — AP@[.5:.95],
AP@.5, AP@.75, AP small/medium/large and each category's AP@[.5:.95] and AP@.5 — and exits 0
when every value agrees within --tolerance (default 1e-4), 1 when one does not, 2 when the
comparison cannot run (pycocotools missing, CLI failing). See docs/evaluation.md.
"""
import argparse
import contextlib
import json
import os
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cannot_run(message):
    print(f'coco-compare: {message}', file=sys.stderr)
    sys.exit(2)


def pycocotools_numbers(annotations, results):
    try:
        import numpy as np
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as error:
        cannot_run(
            f'pycocotools is not importable ({error}). Install it (pip install pycocotools) in '
            'the Python that runs this script, then run again. Nothing was compared.'
        )
    with open(results) as handle:
        if not json.load(handle):
            cannot_run('the results file is empty; pycocotools cannot load an empty results list')
    # COCOeval prints progress on stdout; keep stdout for the comparison.
    with contextlib.redirect_stdout(sys.stderr):
        truth = COCO(annotations)
        detections = truth.loadRes(results)
        evaluation = COCOeval(truth, detections, 'bbox')
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = [float(value) for value in evaluation.stats[:6]]
    precision = evaluation.eval['precision']
    per_category = {}
    for k, category_id in enumerate(evaluation.params.catIds):
        # All areas, maxDets 100: precision[T, R, K, A=0, M=2].
        values = precision[:, :, k, 0, -1]
        at50 = values[0]
        per_category[int(category_id)] = (
            float(np.mean(values[values > -1])) if (values > -1).any() else -1.0,
            float(np.mean(at50[at50 > -1])) if (at50 > -1).any() else -1.0,
        )
    return stats, per_category


def visionloop_numbers(annotations, results, cli):
    command = shlex.split(cli) + [
        'eval', '--predictions', results, '--data', annotations, '--json',
    ]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    except OSError as error:
        cannot_run(f'cannot start {command[0]}: {error}')
    if done.returncode != 0:
        cannot_run(
            f'`{" ".join(command)}` exited with {done.returncode}:\n{done.stderr.strip()}\n'
            '(build the CLI first with `npm run build`, or pass --cli)'
        )
    return json.loads(done.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('annotations', help='COCO annotations file (ground truth)')
    parser.add_argument('results', help='COCO results file (detections)')
    parser.add_argument('--cli', default='node bin/visionloop.js',
                        help='how to run visionloop (default: %(default)s, from the repository root)')
    parser.add_argument('--tolerance', type=float, default=1e-4)
    args = parser.parse_args()
    annotations = os.path.abspath(args.annotations)
    results = os.path.abspath(args.results)

    stats, per_category = pycocotools_numbers(annotations, results)
    report = visionloop_numbers(annotations, results, args.cli)
    with open(annotations) as handle:
        category_ids = sorted(category['id'] for category in json.load(handle)['categories'])

    rows = [
        ('AP@[.5:.95]', stats[0], report['map50_95']),
        ('AP@.5', stats[1], report['map50']),
        ('AP@.75', stats[2], report['map75']),
        ('AP small', stats[3], report['mapSmall']),
        ('AP medium', stats[4], report['mapMedium']),
        ('AP large', stats[5], report['mapLarge']),
    ]
    for category_id, per_class in zip(category_ids, report['perClass']):
        coco_ap, coco_ap50 = per_category[category_id]
        name = per_class['className']
        rows.append((f'{name} AP@[.5:.95]', coco_ap, per_class['ap50_95']))
        rows.append((f'{name} AP@.5', coco_ap50, per_class['ap50']))

    failures = 0
    width = max(len(row[0]) for row in rows)
    print(f'{"metric".ljust(width)}  {"pycocotools":>12}  {"visionloop":>12}  {"|diff|":>9}')
    for name, theirs, ours in rows:
        diff = abs(theirs - ours)
        ok = diff <= args.tolerance
        failures += 0 if ok else 1
        print(f'{name.ljust(width)}  {theirs:12.6f}  {ours:12.6f}  {diff:9.2e}  {"ok" if ok else "DIFFERENT"}')
    if failures:
        print(f'{failures} value(s) differ by more than {args.tolerance}', file=sys.stderr)
        sys.exit(1)
    print(f'all {len(rows)} values agree within {args.tolerance}')


if __name__ == '__main__':
    main()
