/**
 * Vitest global setup: names the directory this test run's dashboard is built into
 * (`VISIONLOOP_TEST_DASHBOARD_DIR`, inherited by the test workers) and deletes it, with its
 * lock and markers, after the last test file. Nothing is built here: the first browser stack of
 * the run builds it (test/browser/harness.ts, dashboardFor), so a run without browser tests
 * pays nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const VARIABLE = 'VISIONLOOP_TEST_DASHBOARD_DIR';

export default function setup(): () => void {
  const parent = mkdtempSync(join(tmpdir(), 'vl-dashboard-'));
  process.env[VARIABLE] = join(parent, 'web-dist');
  return () => {
    delete process.env[VARIABLE];
    rmSync(parent, { recursive: true, force: true });
  };
}
