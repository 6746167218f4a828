/**
 * What the labeling and review views both show beside the work: the queue's numbers (pending,
 * labeled, approved, …), the recently labelled items with who and when, the tabs between the
 * two views, and how an item's sampling reason reads. Numbers refresh on every `labeling`
 * event (batched per animation frame) and every few seconds (new items arrive with frames,
 * which have no labeling event).
 */
import { Link } from '../../app/router';
import { ErrorBanner } from '../../components/ErrorBanner';
import { Panel, Stat } from '../../components/Stat';
import { StateBadge } from '../../components/StateBadge';
import type { StateLevel } from '../../components/StateBadge';
import type {
  HistoryResponse,
  LabelingItem,
  LabelingStatusName,
  StatsResponse,
} from '../../../../src/shared/api/labeling';
import { historyResponseSchema, statsResponseSchema } from '../../../../src/shared/api/labeling';
import { api } from '../../lib/api';
import { formatDateTime, formatRelative } from '../../lib/time';
import type { QueryState } from '../../lib/use-query';
import { useQuery } from '../../lib/use-query';
import { useEvents } from '../../lib/use-events';
import { reviewerName } from './reviewer';

/** How each sampling reason reads; unknown reasons (new strategies) are shown as they are. */
const REASON_TEXT: Record<string, string> = {
  low_confidence: 'Low confidence (uncertainty band)',
  class_filter: 'Class filter',
  detection_count: 'Detection count',
  novelty: 'Novelty (diversity under drift)',
  drift: 'Drift',
  random: 'Random sample',
};

export function reasonText(reason: string): string {
  return REASON_TEXT[reason] ?? reason;
}

/** Status as a badge: shape + word + colour. */
const STATUS_LEVEL: Record<LabelingStatusName, StateLevel> = {
  pending: 'unknown',
  claimed: 'yellow',
  labeled: 'yellow',
  approved: 'green',
  rejected: 'red',
  skipped: 'unknown',
  flagged: 'red',
};

export function StatusBadge({ status }: { status: LabelingStatusName }) {
  return <StateBadge level={STATUS_LEVEL[status]} label={status} />;
}

export { reviewerName };

/** The queue's statistics, live. */
export function useQueueStats(): QueryState<StatsResponse> {
  const stats = useQuery(
    (signal) => api.get('/api/labeling-queue/stats', statsResponseSchema, { signal }),
    [],
    {
      refreshMs: 5_000,
    },
  );
  useEvents(['labeling'], () => stats.refresh());
  return stats;
}

export function QueueStatsPanel({ stats }: { stats: QueryState<StatsResponse> }) {
  const counts = stats.data?.counts;
  return (
    <section className="labeling-stats" aria-label="Queue">
      <ErrorBanner error={stats.error} onRetry={stats.refresh} what="queue statistics" />
      <div className="labeling-stat-row" role="group" aria-label="Queue statistics">
        {(
          [
            ['Pending', counts?.pending, 'waiting for a labeler'],
            ['In progress', counts?.claimed, 'claimed by a labeler'],
            ['Labeled', counts?.labeled, 'waiting for a second reviewer'],
            ['Approved', counts?.approved, 'reviewed labels, ready for training'],
            ['Rejected', counts?.rejected, undefined],
            ['Skipped', counts?.skipped, undefined],
            ['Flagged', counts?.flagged, 'model mistakes'],
          ] as const
        ).map(([label, n, hint]) => (
          <div key={label} role="group" aria-label={label} data-count={n ?? ''}>
            <Stat label={label} value={n ?? '—'} hint={hint} />
          </div>
        ))}
      </div>
      {stats.data !== undefined && (
        <p className="muted labeling-small">
          {stats.data.reviewedLabels} reviewed labels in total · {stats.data.actions} actions in the
          last 24 h
        </p>
      )}
    </section>
  );
}

/** The items labelled, skipped or flagged last, with who and when. */
export function RecentLabelsPanel({ limit = 8 }: { limit?: number }) {
  const recent = useQuery(
    (signal) =>
      api.get('/api/labeling-queue/history', historyResponseSchema, { signal, query: { limit } }),
    [limit],
    { refreshMs: 15_000 },
  );
  useEvents(['labeling'], () => recent.refresh());
  const items: HistoryResponse['items'] = recent.data?.items ?? [];
  return (
    <Panel title="Recently labeled" className="labeling-recent">
      <ErrorBanner error={recent.error} onRetry={recent.refresh} what="recent labels" />
      {items.length === 0 ? (
        <p className="muted">Nothing labeled yet.</p>
      ) : (
        <ul className="labeling-recent-list" aria-label="Recently labeled items">
          {items.map((item) => (
            <RecentRow key={item.id} item={item} />
          ))}
        </ul>
      )}
    </Panel>
  );
}

function RecentRow({ item }: { item: LabelingItem }) {
  const boxes =
    item.labels === null
      ? ''
      : item.labels.length === 0
        ? 'no defects'
        : `${item.labels.length} box${item.labels.length === 1 ? '' : 'es'}`;
  return (
    <li>
      <StatusBadge status={item.status} /> <span className="labeling-mono">{item.id}</span>
      <span className="muted"> {boxes}</span>
      <br />
      <span className="labeling-small">
        by <strong>{reviewerName(item.labeledBy)}</strong>{' '}
        {item.labeledAt !== null && (
          <time
            dateTime={new Date(item.labeledAt).toISOString()}
            title={formatDateTime(item.labeledAt)}
          >
            {formatRelative(item.labeledAt)}
          </time>
        )}
        {item.reviewedBy !== null && item.status !== 'labeled' && (
          <>
            {' '}
            · {item.status} by <strong>{reviewerName(item.reviewedBy)}</strong>
          </>
        )}
      </span>
    </li>
  );
}

/** Label / Review tabs (links: each view has its own address). */
export function LabelingTabs({ current }: { current: 'label' | 'review' }) {
  return (
    <nav className="labeling-tabs" aria-label="Labeling views">
      <Link to="/labeling" aria-current={current === 'label' ? 'page' : undefined}>
        Label
      </Link>
      <Link to="/labeling/review" aria-current={current === 'review' ? 'page' : undefined}>
        Review
      </Link>
    </nav>
  );
}
