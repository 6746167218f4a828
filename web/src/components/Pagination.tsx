/**
 * Previous/next paging for cursor (keyset) lists: no page count, so nothing counts the whole
 * table. The caller keeps the cursors; this only shows the buttons and where we are.
 */
export interface PaginationProps {
  hasPrevious: boolean;
  hasNext: boolean;
  onPrevious: () => void;
  onNext: () => void;
  /** e.g. "Rows 51–100". */
  label?: string;
}

export function Pagination({ hasPrevious, hasNext, onPrevious, onNext, label }: PaginationProps) {
  return (
    <nav className="pagination" aria-label="Pages of results">
      <button type="button" onClick={onPrevious} disabled={!hasPrevious}>
        ← Previous
      </button>
      {label !== undefined && <span aria-live="polite">{label}</span>}
      <button type="button" onClick={onNext} disabled={!hasNext}>
        Next →
      </button>
    </nav>
  );
}
