/**
 * Times as people read them, in the browser's time zone and locale (the server sends epoch
 * ms). One place so every page writes dates the same way.
 */
const timeFormat = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  timeZoneName: 'short',
});
const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** `14:03:07` (local). */
export function formatTime(epochMs: number): string {
  return timeFormat.format(epochMs);
}

/** `Dec 7, 2026, 14:03:07 CET` (local, with the zone). */
export function formatDateTime(epochMs: number | null | undefined): string {
  return epochMs === null || epochMs === undefined ? '—' : dateTimeFormat.format(epochMs);
}

/** `5 min ago`, `in 2 h`, relative to `now`. */
export function formatRelative(epochMs: number, now: number = Date.now()): string {
  const seconds = Math.round((epochMs - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 60) return relativeFormat.format(seconds, 'second');
  if (abs < 3600) return relativeFormat.format(Math.round(seconds / 60), 'minute');
  if (abs < 86_400) return relativeFormat.format(Math.round(seconds / 3600), 'hour');
  return relativeFormat.format(Math.round(seconds / 86_400), 'day');
}

/** A duration in seconds as `1 h 02 min`, `3 min 05 s`, `42 s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** The browser's time zone name, e.g. `Europe/Berlin` (shown once in the layout). */
export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** A number with a fixed count of decimals, or `—` when missing. */
export function formatNumber(value: number | null | undefined, decimals = 1): string {
  return value === null || value === undefined || !Number.isFinite(value)
    ? '—'
    : value.toFixed(decimals);
}

/** A 0..1 share as a percentage: `12.5 %`. */
export function formatPercent(share: number | null | undefined, decimals = 1): string {
  return share === null || share === undefined || !Number.isFinite(share)
    ? '—'
    : `${(share * 100).toFixed(decimals)} %`;
}
