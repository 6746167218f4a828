/**
 * Settings: the inspection thresholds (fail threshold, detection confidence), the inspection
 * chain (stages after detect, decision rules; default and per camera), the uncertainty
 * band and sampling, the drift monitor, the retraining policy, the
 * labeling review, and API tokens. Everyone signed in reads the settings; only admins see Save
 * buttons and the tokens (the API refuses the rest anyway). docs/dashboard.md#settings.
 */
import { IfScope, useCan } from '../../app/auth';
import { ADMINS } from '../../app/scopes';
import { ErrorBanner } from '../../components/ErrorBanner';
import { Panel } from '../../components/Stat';
import { api } from '../../lib/api';
import { useQuery } from '../../lib/use-query';
import { classesSettingsSchema } from '../../../../src/shared/api/labeling';
import { SettingsSection } from './SettingsSection';
import {
  DRIFT_SECTION,
  INSPECTION_SECTION,
  LABELING_SECTION,
  RETRAINING_SECTION,
  SAMPLING_SECTION,
} from './settings-form';
import { ChainPanel } from './ChainPanel';
import { TokensPanel } from './TokensPanel';
import './settings.css';

export default function SettingsPage() {
  const isAdmin = useCan(ADMINS);
  return (
    <div className="settings-page">
      <h1>Settings</h1>
      <p className="muted settings-intro">
        {isAdmin
          ? 'Changes apply at once: agents pick up thresholds and sampling with their next heartbeat; the drift monitor and the retraining policy at their next check. Each form is checked before anything is sent.'
          : 'You can read the settings; only an admin token may change them.'}
      </p>
      <nav aria-label="Settings sections" className="settings-toc">
        <a href="#settings-inspection">Inspection thresholds</a>
        <a href="#settings-chain">Inspection chain</a>
        <a href="#settings-sampling">Uncertainty band and sampling</a>
        <a href="#settings-drift">Drift monitor</a>
        <a href="#settings-retraining">Retraining policy</a>
        <a href="#settings-labeling">Labeling</a>
        {isAdmin && <a href="#settings-tokens">API tokens</a>}
      </nav>
      <div className="settings-grid">
        <div id="settings-inspection">
          <SettingsSection spec={INSPECTION_SECTION} />
        </div>
        <div id="settings-chain">
          <ChainPanel />
        </div>
        <div id="settings-sampling">
          <SettingsSection spec={SAMPLING_SECTION} />
        </div>
        <div id="settings-drift">
          <SettingsSection spec={DRIFT_SECTION} />
        </div>
        <div id="settings-retraining">
          <SettingsSection spec={RETRAINING_SECTION} />
        </div>
        <div id="settings-labeling">
          <SettingsSection spec={LABELING_SECTION} />
        </div>
        <ClassesPanel />
        <IfScope allowed={ADMINS}>
          <div id="settings-tokens">
            <TokensPanel />
          </div>
        </IfScope>
        {!isAdmin && (
          <Panel title="API tokens">
            <p className="muted">Only admins list, create and revoke tokens.</p>
          </Panel>
        )}
      </div>
    </div>
  );
}

/** The deployment's class names in class-id order (read-only here: `PUT /api/settings/classes`). */
function ClassesPanel() {
  const classes = useQuery(
    (signal) => api.get('/api/settings/classes', classesSettingsSchema, { signal }),
    [],
  );
  return (
    <Panel title="Classes">
      <ErrorBanner error={classes.error} onRetry={classes.refresh} what="the classes" />
      {classes.data !== undefined && (
        <>
          <ol className="settings-classes" start={0}>
            {classes.data.classes.map((name) => (
              <li key={name}>{name}</li>
            ))}
          </ol>
          <p className="muted">
            In class-id order, as models and datasets use them; the labeling keys 1–9 pick them in
            this order. Models must carry the same names; names are only appended once labels exist
            (<code>PUT /api/settings/classes</code>).
          </p>
        </>
      )}
    </Panel>
  );
}
