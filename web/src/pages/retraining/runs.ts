/**
 * Retraining history as runs: the event log (`/api/retraining/history`, newest first) grouped
 * by training job, each with its trigger, reason, candidate and outcome. A rejected candidate
 * reads as rejected (■), never as a success.
 */
import type { RetrainingEvent } from '../../../../src/shared/api/retraining';
import type { StateLevel } from '../../components/StateBadge';

export interface RetrainingRun {
  jobId: string;
  trigger: string | null;
  reason: string | null;
  actor: string | null;
  queuedAt: number;
  /** Time of the newest event of the run. */
  lastAt: number;
  candidateVersion: string | null;
  outcome: RunOutcome;
  /** The gate's reasons, when the gate ran. */
  gateReasons: string[];
  /** Newest first. */
  events: RetrainingEvent[];
}

export interface RunOutcome {
  level: StateLevel;
  /** Word shown beside the shape. */
  label: string;
  /** True when the run is over. */
  final: boolean;
}

function gateReasonsOf(event: RetrainingEvent): string[] {
  const gate = event.details.gate;
  if (typeof gate !== 'object' || gate === null) return [];
  const reasons = (gate as { reasons?: unknown }).reasons;
  return Array.isArray(reasons) ? reasons.filter((r): r is string => typeof r === 'string') : [];
}

/** The outcome of a run from its newest decisive event. */
export function outcomeOf(events: readonly RetrainingEvent[]): RunOutcome {
  for (const event of events) {
    switch (event.kind) {
      case 'promoted': {
        const alias = typeof event.details.alias === 'string' ? event.details.alias : 'an alias';
        return { level: 'green', label: `Promoted to ${alias}`, final: true };
      }
      case 'rejected':
        return { level: 'red', label: 'Rejected by the gate', final: true };
      case 'failed':
        return { level: 'red', label: 'Failed', final: true };
      case 'cancelled':
        return { level: 'unknown', label: 'Cancelled', final: true };
      case 'interrupted':
        return { level: 'yellow', label: 'Interrupted (retried)', final: false };
      case 'cancel_requested':
        return { level: 'yellow', label: 'Cancelling', final: false };
      default:
        break;
    }
  }
  const newest = events[0]?.kind;
  return {
    level: 'yellow',
    label:
      newest === 'queued'
        ? 'Queued'
        : newest === 'registered'
          ? 'Registered, gate pending'
          : 'Running',
    final: false,
  };
}

/** Groups events (newest first) into runs (newest first); events without a job are skipped. */
export function groupRuns(events: readonly RetrainingEvent[]): RetrainingRun[] {
  const byJob = new Map<string, RetrainingEvent[]>();
  for (const event of events) {
    if (event.jobId === null) continue;
    const list = byJob.get(event.jobId);
    if (list === undefined) byJob.set(event.jobId, [event]);
    else list.push(event);
  }
  const runs: RetrainingRun[] = [];
  for (const [jobId, list] of byJob) {
    const oldest = list[list.length - 1];
    const newest = list[0];
    if (oldest === undefined || newest === undefined) continue;
    const queued = list.find((e) => e.kind === 'queued') ?? oldest;
    const decisive = list.find((e) => e.kind === 'rejected' || e.kind === 'registered');
    runs.push({
      jobId,
      trigger: queued.trigger ?? list.find((e) => e.trigger !== null)?.trigger ?? null,
      reason: queued.reason,
      actor: queued.actor,
      queuedAt: oldest.at,
      lastAt: newest.at,
      candidateVersion: list.find((e) => e.modelVersion !== null)?.modelVersion ?? null,
      outcome: outcomeOf(list),
      gateReasons: decisive === undefined ? [] : gateReasonsOf(decisive),
      events: list,
    });
  }
  return runs.sort((a, b) => b.lastAt - a.lastAt);
}
