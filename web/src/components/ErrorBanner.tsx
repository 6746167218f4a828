/** A failed request, said plainly, with a retry button when the caller can retry. */
import { errorMessage } from '../lib/api';

export function ErrorBanner({
  error,
  onRetry,
  what,
}: {
  error: unknown;
  onRetry?: () => void;
  what?: string;
}) {
  if (error === undefined || error === null) return null;
  return (
    <div className="error-banner" role="alert">
      <span aria-hidden="true">■ </span>
      <strong>{what === undefined ? 'Request failed' : `Could not load ${what}`}:</strong>{' '}
      {errorMessage(error)}
      {onRetry !== undefined && (
        <button type="button" className="button-quiet" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}
