/**
 * What the labeling page takes from the inspection chain: the crop classes a reviewer picks
 * from (the classify stage's production model's classes, from the registry), the later stages'
 * outputs of an item's frame as the start of its outlines and crop classes (in the item's
 * pixels: the stored frame may be smaller than the one the agent inspected), and which box a
 * server refusal names.
 *
 * Pure functions over the API's types; it must never fetch.
 */
import type { InspectionLogItem } from '../../../../src/shared/api/inspection-logs.js';
import type { ModelListResponse } from '../../../../src/shared/api/models.js';
import type { StagePreLabel } from './annotation.js';

/** The alias whose model classifies crops unless a chain names another (inspection-chain.ts). */
export const CLASSIFY_ALIAS = 'classify-production';

/**
 * The crop classes to offer: the classes of the model behind `alias`, else of the newest
 * `classify` model in the registry, else none.
 */
export function cropClassesOf(list: ModelListResponse, alias = CLASSIFY_ALIAS): string[] {
  const version = list.aliases.find((entry) => entry.alias === alias)?.version;
  const aliased = list.models.find((model) => model.version === version);
  if (aliased !== undefined && aliased.classNames.length > 0) return [...aliased.classNames];
  const newest = list.models
    .filter((model) => model.task === 'classify' && model.classNames.length > 0)
    .sort((a, b) => b.createdAt - a.createdAt)[0];
  return newest === undefined ? [] : [...newest.classNames];
}

/**
 * The stage outputs of a frame result, one per detection (null where a detection has none),
 * with outlines scaled from the result's pixels to the item's `width`×`height`.
 */
export function stagePreLabels(
  result: Pick<InspectionLogItem, 'width' | 'height' | 'stages'>,
  width: number,
  height: number,
): (StagePreLabel | null)[] {
  const stages = result.stages;
  if (stages === undefined) return [];
  const sx = width / result.width;
  const sy = height / result.height;
  return stages.detections.map((detection) => {
    const out: StagePreLabel = {};
    const polygon = detection.segmentation?.polygon;
    if (polygon !== undefined && polygon.length >= 6) {
      out.polygon = polygon.map((value, index) =>
        index % 2 === 0 ? Math.round(value * sx * 10) / 10 : Math.round(value * sy * 10) / 10,
      );
    }
    const className = detection.classification?.className;
    if (className !== undefined) out.cropClass = className;
    return out.polygon === undefined && out.cropClass === undefined ? null : out;
  });
}

/**
 * The box (0-based) a refusal names (`boxes[2].polygon: point 1 … lies outside its box`), or
 * null when it names none.
 */
export function refusedBoxIndex(message: string | null): number | null {
  if (message === null) return null;
  const found = /boxes\[(\d+)\]|boxes\.(\d+)/.exec(message);
  const index = found?.[1] ?? found?.[2];
  return index === undefined ? null : Number(index);
}
