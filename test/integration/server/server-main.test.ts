/**
 * The composition root end to end, on each dialect: `startServer` migrates, creates the first
 * admin token once (printed once, saved 0600), listens on a real port, and closes cleanly;
 * the CLI's local token and migration commands work on the same database without a server.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDbCommands } from '../../../src/cli/db.command.js';
import { registerTokenCommands } from '../../../src/cli/token.command.js';
import { loadServerConfig } from '../../../src/config/server.config.js';
import type { ServerConfig } from '../../../src/config/server.config.js';
import { startServer } from '../../../src/main/server.main.js';
import type { CreatedToken } from '../../../src/shared/api/tokens.js';
import { TOKEN_PATTERN } from '../../../src/shared/api/tokens.js';
import { databaseTargets } from '../../helpers/database.js';
import type { TestDatabase } from '../../helpers/database.js';

function collect(): { write(text: string): boolean; text(): string } {
  let buffer = '';
  return {
    write(text: string) {
      buffer += text;
      return true;
    },
    text: () => buffer,
  };
}

async function runCli(
  env: Record<string, string>,
  args: string[],
): Promise<{ out: string; err: string }> {
  const out = collect();
  const err = collect();
  const program = new Command().exitOverride();
  registerTokenCommands(program, { env, stdout: out, stderr: err });
  registerDbCommands(program, { env, stdout: out });
  await program.parseAsync(['node', 'visionloop', ...args]);
  return { out: out.text(), err: err.text() };
}

for (const target of databaseTargets()) {
  describe.skipIf(!target.available)(`server composition on ${target.dialect}`, () => {
    let dataDir: string;
    let database: TestDatabase;
    let config: ServerConfig;
    let env: Record<string, string>;

    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'visionloop-server-test-'));
      // An empty database (no migrations): startServer must migrate it.
      database = await target.open({ migrate: false });
      env = {
        VISIONLOOP_DATA_DIR: dataDir,
        PORT: '0',
        ...(target.dialect === 'postgres' ? { DATABASE_URL: database.url } : {}),
      };
      config = loadServerConfig(env);
    });
    afterAll(async () => {
      await database.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('creates the first admin token once, saves it owner-only, and serves with it', async () => {
      const shown: CreatedToken[] = [];
      const server = await startServer(config, {
        logger: false,
        processMetrics: false,
        onAdminToken: (t) => shown.push(t),
      });
      try {
        expect(shown).toHaveLength(1);
        const token = shown[0]?.token ?? '';
        expect(token).toMatch(TOKEN_PATTERN);
        expect(readFileSync(config.adminTokenFile, 'utf8')).toBe(`${token}\n`);
        expect(statSync(config.adminTokenFile).mode & 0o777).toBe(0o600);
        expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

        const health = await fetch(`${server.url}/api/health`);
        expect(health.status).toBe(200);
        const tokens = await fetch(`${server.url}/api/tokens`, {
          headers: { authorization: `Bearer ${token}` },
        });
        expect(tokens.status).toBe(200);
        const anonymous = await fetch(`${server.url}/api/tokens`);
        expect(anonymous.status).toBe(401);
      } finally {
        await server.close();
      }
      await server.close();

      const again = await startServer(config, {
        logger: false,
        processMetrics: false,
        onAdminToken: (t) => shown.push(t),
      });
      await again.close();
      expect(again.adminToken).toBeNull();
      expect(shown).toHaveLength(1);
    });

    it('manages tokens from the CLI on the database, without a server', async () => {
      const created = await runCli(env, [
        'token',
        'create',
        '--scope',
        'agent',
        '--name',
        'line-4',
      ]);
      const secret = created.out.trim();
      expect(secret).toMatch(TOKEN_PATTERN);
      expect(created.err).toContain('created agent token');
      const listed = await runCli(env, ['token', 'list', '--json']);
      const tokens = JSON.parse(listed.out) as {
        id: string;
        name: string;
        scope: string;
        revokedAt: number | null;
      }[];
      expect(listed.out).not.toContain(secret);
      const agentToken = tokens.find((t) => t.name === 'line-4');
      expect(agentToken).toMatchObject({ scope: 'agent', revokedAt: null });
      const revoked = await runCli(env, ['token', 'revoke', agentToken?.id ?? '']);
      expect(revoked.out).toContain(`revoked ${agentToken?.id}`);
      const after = JSON.parse((await runCli(env, ['token', 'list', '--json'])).out) as {
        id: string;
        revokedAt: number | null;
      }[];
      expect(after.find((t) => t.id === agentToken?.id)?.revokedAt).not.toBeNull();
    });

    it('manages tokens from the CLI through a running server', async () => {
      const server = await startServer(config, { logger: false, processMetrics: false });
      try {
        const admin = (
          await server.services.auth.createToken({ name: 'ops', scope: 'admin' }, null)
        ).token;
        const remote = ['--server', server.url, '--token', admin];
        const created = await runCli(env, [
          'token',
          'create',
          '--scope',
          'viewer',
          '--json',
          ...remote,
        ]);
        const token = JSON.parse(created.out) as CreatedToken;
        expect(token).toMatchObject({ scope: 'viewer' });
        const listed = await runCli(env, ['token', 'list', ...remote]);
        expect(listed.out).toContain(token.id);
        await expect(
          runCli(env, ['token', 'list', '--server', server.url, '--token', token.token]),
        ).rejects.toMatchObject({ code: 'FORBIDDEN' });
      } finally {
        await server.close();
      }
    });

    it('reports and undoes migrations from the CLI', async () => {
      const status = await runCli(env, ['db', 'migrate', '--status', '--json']);
      const parsed = JSON.parse(status.out) as {
        status: { name: string; appliedAt: number | null }[];
      };
      expect(parsed.status.length).toBeGreaterThanOrEqual(4);
      expect(parsed.status.every((m) => m.appliedAt !== null)).toBe(true);
      const down = await runCli(env, ['db', 'migrate', '--down', '1']);
      expect(down.out).toMatch(/undid \d{4}_/);
      const up = await runCli(env, ['db', 'migrate']);
      expect(up.out).toMatch(/applied \d{4}_/);
    });
  });
}
