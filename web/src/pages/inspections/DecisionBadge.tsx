/** A frame's decision and uncertain flag as text + shape + colour (never colour alone). */
import type { Decision } from '../../../../src/shared/domain';
import { StateBadge } from '../../components/StateBadge';

export function DecisionBadge({ decision }: { decision: Decision }) {
  return <StateBadge level={decision === 'FAIL' ? 'red' : 'green'} label={decision} />;
}

export function UncertainMark() {
  return (
    <span className="inspections-uncertain">
      <span aria-hidden="true">▲ </span>uncertain
    </span>
  );
}
