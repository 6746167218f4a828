/**
 * The inspections page's filters: kept in the URL (so a filtered view can be shared and
 * survives a reload), edited in a form as strings, and checked with the API's own query schema
 * (`inspectionLogsQuerySchema`) before anything is sent.
 */
import { inspectionLogsQuerySchema } from '../../../../src/shared/api/inspection-logs';

/** The form's fields, as typed (strings; '' = no filter). */
export interface FilterDraft {
  /** `datetime-local` values in the browser's time zone. */
  from: string;
  to: string;
  camera: string;
  class: string;
  decision: '' | 'PASS' | 'FAIL';
  uncertain: '' | 'true' | 'false';
  modelVersion: string;
  limit: string;
}

export const EMPTY_DRAFT: FilterDraft = {
  from: '',
  to: '',
  camera: '',
  class: '',
  decision: '',
  uncertain: '',
  modelVersion: '',
  limit: '50',
};

/** The URL/query keys the API takes (cursor excluded: the page keeps cursors itself). */
export const FILTER_KEYS = [
  'from',
  'to',
  'camera',
  'class',
  'decision',
  'uncertain',
  'modelVersion',
  'limit',
] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];

/** `2026-12-07T14:03` (local) for an epoch-ms string; '' when it is not a number. */
export function toLocalInput(epochMs: string | null): string {
  if (epochMs === null || epochMs === '' || !/^\d+$/.test(epochMs)) return '';
  const date = new Date(Number(epochMs));
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

/** Epoch ms of a `datetime-local` value read in the browser's time zone; null when invalid. */
export function fromLocalInput(value: string): number | null {
  if (value === '') return null;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : null;
}

/** The form as the URL holds it. */
export function draftFromParams(params: URLSearchParams): FilterDraft {
  const decision = params.get('decision');
  const uncertain = params.get('uncertain');
  return {
    from: toLocalInput(params.get('from')),
    to: toLocalInput(params.get('to')),
    camera: params.get('camera') ?? '',
    class: params.get('class') ?? '',
    decision: decision === 'PASS' || decision === 'FAIL' ? decision : '',
    uncertain: uncertain === 'true' || uncertain === 'false' ? uncertain : '',
    modelVersion: params.get('modelVersion') ?? '',
    limit: params.get('limit') ?? '50',
  };
}

export type FilterErrors = Partial<Record<FilterKey, string>>;

export type CheckedFilters =
  { ok: true; query: Record<FilterKey, string | undefined> } | { ok: false; errors: FilterErrors };

/**
 * The draft as API query values, checked with the API's schema: `ok` with the values to put
 * in the URL and send, or the first problem of each field.
 */
export function checkDraft(draft: FilterDraft): CheckedFilters {
  const errors: FilterErrors = {};
  const from = fromLocalInput(draft.from);
  const to = fromLocalInput(draft.to);
  if (draft.from !== '' && from === null) errors.from = 'Not a date and time.';
  if (draft.to !== '' && to === null) errors.to = 'Not a date and time.';
  if (from !== null && to !== null && to <= from) errors.to = 'Must be after “From”.';
  const query: Record<FilterKey, string | undefined> = {
    from: from === null ? undefined : String(from),
    to: to === null ? undefined : String(to),
    camera: draft.camera.trim() || undefined,
    class: draft.class.trim() || undefined,
    decision: draft.decision || undefined,
    uncertain: draft.uncertain || undefined,
    modelVersion: draft.modelVersion.trim() || undefined,
    limit: draft.limit.trim() || undefined,
  };
  const parsed = inspectionLogsQuerySchema.safeParse(
    Object.fromEntries(Object.entries(query).filter(([, value]) => value !== undefined)),
  );
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path[0];
      if (typeof key === 'string' && (FILTER_KEYS as readonly string[]).includes(key)) {
        errors[key as FilterKey] ??= issue.message;
      }
    }
  }
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, query };
}

/** The API query of the URL's filters; values the API would refuse are left out. */
export function queryFromParams(params: URLSearchParams): Record<FilterKey, string | undefined> {
  const query = {} as Record<FilterKey, string | undefined>;
  for (const key of FILTER_KEYS) {
    const value = params.get(key);
    query[key] = value === null || value === '' ? undefined : value;
  }
  const parsed = inspectionLogsQuerySchema.safeParse(
    Object.fromEntries(Object.entries(query).filter(([, value]) => value !== undefined)),
  );
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path[0];
      if (typeof key === 'string' && key in query) query[key as FilterKey] = undefined;
    }
  }
  return query;
}
