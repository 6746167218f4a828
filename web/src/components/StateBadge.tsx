/**
 * A green/yellow/red state that stays readable without colour: each level has its own shape
 * (● ▲ ■, ○ for unknown) and a word. `label` replaces the default word (e.g. "Drift").
 */
export type StateLevel = 'green' | 'yellow' | 'red' | 'unknown';

const SHAPES: Record<StateLevel, string> = { green: '●', yellow: '▲', red: '■', unknown: '○' };
const WORDS: Record<StateLevel, string> = {
  green: 'OK',
  yellow: 'Warning',
  red: 'Alert',
  unknown: 'Unknown',
};

export interface StateBadgeProps {
  level: StateLevel;
  /** The text after the shape; default OK / Warning / Alert / Unknown. */
  label?: string;
  title?: string;
}

export function StateBadge({ level, label, title }: StateBadgeProps) {
  return (
    <span className={`badge level-${level}`} data-level={level} title={title}>
      <span aria-hidden="true" className="badge-shape">
        {SHAPES[level]}
      </span>{' '}
      {label ?? WORDS[level]}
    </span>
  );
}
