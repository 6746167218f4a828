import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../db/database.js';
import type { DatabaseHandle } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { TokenRepository } from '../repositories/token.repository.js';
import { TOKEN_PATTERN } from '../shared/api/tokens.js';
import { AuthService, generateTokenSecret, hashToken } from './auth.service.js';

describe('AuthService', () => {
  let database: DatabaseHandle;
  let tokens: TokenRepository;
  let clock: number;
  let auth: AuthService;

  beforeEach(async () => {
    database = await openDatabase(':memory:');
    await migrateToLatest(database);
    tokens = new TokenRepository(database.db);
    clock = 1_000_000;
    auth = new AuthService(tokens, { now: () => clock, touchIntervalMs: 60_000 });
  });
  afterEach(() => database.close());

  it('issues vl_ secrets and stores only their sha256', async () => {
    const created = await auth.createToken({ name: 'line 1', scope: 'agent' }, 'tok_admin');
    expect(created.token).toMatch(TOKEN_PATTERN);
    expect(generateTokenSecret()).not.toBe(generateTokenSecret());
    const rows = await tokens.list();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.token_hash).toBe(hashToken(created.token));
    expect(JSON.stringify(rows)).not.toContain(created.token);
    expect(JSON.stringify(await auth.listTokens())).not.toContain(created.token);
    expect(created).toMatchObject({ name: 'line 1', scope: 'agent', createdBy: 'tok_admin' });
  });

  it('authenticates a valid secret and nothing else', async () => {
    const created = await auth.createToken({ name: 'v', scope: 'viewer' }, null);
    expect(await auth.authenticate(created.token)).toEqual({
      tokenId: created.id,
      name: 'v',
      scope: 'viewer',
    });
    const tampered = `${created.token.slice(0, -1)}${created.token.endsWith('A') ? 'B' : 'A'}`;
    expect(await auth.authenticate(tampered)).toBeNull();
    expect(await auth.authenticate('vl_short')).toBeNull();
    expect(await auth.authenticate('')).toBeNull();
  });

  it('refuses revoked and expired tokens', async () => {
    const revoked = await auth.createToken({ name: 'r', scope: 'admin' }, null);
    const expiring = await auth.createToken(
      { name: 'e', scope: 'admin', expiresAt: clock + 1000 },
      null,
    );
    expect((await auth.revokeToken(revoked.id)).revokedAt).toBe(clock);
    expect(await auth.authenticate(revoked.token)).toBeNull();
    expect(await auth.authenticate(expiring.token)).not.toBeNull();
    clock += 1000;
    expect(await auth.authenticate(expiring.token)).toBeNull();
    await expect(auth.revokeToken('tok_missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(
      auth.createToken({ name: 'past', scope: 'viewer', expiresAt: clock - 1 }, null),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('records last use at most once per interval', async () => {
    const created = await auth.createToken({ name: 'a', scope: 'agent' }, null);
    await auth.authenticate(created.token);
    await auth.flush();
    expect((await tokens.findById(created.id))?.last_used_at).toBe(1_000_000);
    clock += 30_000;
    await auth.authenticate(created.token);
    await auth.flush();
    expect((await tokens.findById(created.id))?.last_used_at).toBe(1_000_000);
    clock += 30_000;
    await auth.authenticate(created.token);
    await auth.flush();
    expect((await tokens.findById(created.id))?.last_used_at).toBe(1_060_000);
  });

  it('creates an admin token only when no usable one exists', async () => {
    const first = await auth.ensureAdminToken();
    expect(first?.scope).toBe('admin');
    expect(await auth.ensureAdminToken()).toBeNull();
    await auth.revokeToken(first?.id ?? '');
    const replacement = await auth.ensureAdminToken();
    expect(replacement?.id).not.toBe(first?.id);
  });
});
