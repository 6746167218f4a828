import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VisionLoopError } from '../shared/errors.js';
import { openDatabase, parseDatabaseUrl, redact } from './database.js';

function codeOf(error: unknown): string | undefined {
  return error instanceof VisionLoopError ? error.code : undefined;
}

describe('parseDatabaseUrl', () => {
  it('accepts the SQLite spellings and resolves relative paths against cwd', () => {
    expect(parseDatabaseUrl('sqlite:///var/lib/vl/db.sqlite')).toEqual({
      dialect: 'sqlite',
      path: '/var/lib/vl/db.sqlite',
    });
    expect(parseDatabaseUrl('sqlite://data/visionloop.db', '/srv/app')).toEqual({
      dialect: 'sqlite',
      path: '/srv/app/data/visionloop.db',
    });
    expect(parseDatabaseUrl('sqlite:data/visionloop.db', '/srv/app')).toEqual({
      dialect: 'sqlite',
      path: '/srv/app/data/visionloop.db',
    });
    expect(parseDatabaseUrl('./data/visionloop.db', '/srv/app')).toEqual({
      dialect: 'sqlite',
      path: '/srv/app/data/visionloop.db',
    });
    expect(parseDatabaseUrl('/abs/my%20db.db')).toEqual({
      dialect: 'sqlite',
      path: '/abs/my%20db.db',
    });
    expect(parseDatabaseUrl('sqlite:///abs/my%20db.db')).toEqual({
      dialect: 'sqlite',
      path: '/abs/my db.db',
    });
    expect(parseDatabaseUrl('file:///abs/x.db')).toEqual({ dialect: 'sqlite', path: '/abs/x.db' });
    for (const memory of [':memory:', 'sqlite::memory:', 'sqlite://:memory:']) {
      expect(parseDatabaseUrl(memory)).toEqual({ dialect: 'sqlite', path: ':memory:' });
    }
  });

  it('accepts postgres:// and postgresql:// URLs as given', () => {
    for (const url of ['postgres://u:p@db:5432/vl', 'postgresql://db/vl?sslmode=require']) {
      expect(parseDatabaseUrl(url)).toEqual({ dialect: 'postgres', connectionString: url });
    }
  });

  it('rejects other schemes and empty or malformed URLs with CONFIG_INVALID', () => {
    const cases: [string, RegExp][] = [
      ['mysql://root@localhost/vl', /unsupported database URL scheme "mysql:"/],
      ['redis:x', /unsupported database URL scheme "redis:"/],
      ['   ', /empty/],
      ['sqlite://', /bad SQLite URL/],
      ['sqlite:///x.db?mode=ro', /bad SQLite URL/],
      ['file://remote-host/x.db', /bad file URL/],
      ['postgres://u:secret@[bad/vl', /not a valid URL/],
    ];
    for (const [url, message] of cases) {
      let caught: unknown;
      try {
        parseDatabaseUrl(url);
      } catch (error) {
        caught = error;
      }
      expect(codeOf(caught), url).toBe('CONFIG_INVALID');
      expect((caught as Error).message, url).toMatch(message);
      expect((caught as Error).message, url).not.toContain('secret');
    }
  });
});

describe('redact', () => {
  it('hides the password and keeps everything else', () => {
    expect(redact('postgres://vl:s3cr3t@db.example:5432/vl?sslmode=require')).toBe(
      'postgres://vl:***@db.example:5432/vl?sslmode=require',
    );
    expect(redact('postgres://db/vl')).toBe('postgres://db/vl');
  });
});

describe('openDatabase (SQLite)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'visionloop-db-unit-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the parent directory and sets WAL, NORMAL sync, foreign keys and busy timeout', async () => {
    const path = join(dir, 'nested', 'deeper', 'vl.db');
    const handle = await openDatabase(`sqlite://${path}`);
    try {
      expect(handle.dialect).toBe('sqlite');
      expect(handle.location).toBe(path);
      const pragma = async (name: string) =>
        (await sql.raw<Record<string, unknown>>(`pragma ${name}`).execute(handle.db)).rows[0];
      expect(await pragma('journal_mode')).toEqual({ journal_mode: 'wal' });
      expect(await pragma('synchronous')).toEqual({ synchronous: 1 });
      expect(await pragma('foreign_keys')).toEqual({ foreign_keys: 1 });
      expect(await pragma('busy_timeout')).toEqual({ timeout: 5000 });
    } finally {
      await handle.close();
      await handle.close();
    }
  });

  it('begins transactions IMMEDIATE, holding the write lock before the first statement', async () => {
    const path = join(dir, 'vl.db');
    const handle = await openDatabase(path);
    const other = new BetterSqlite3(path, { timeout: 0 });
    try {
      const tryWriteLock = () => {
        other.prepare('begin immediate').run();
        other.prepare('rollback').run();
      };
      tryWriteLock();
      await handle.db.transaction().execute(() => {
        expect(tryWriteLock).toThrow(/locked|busy/i);
        return Promise.resolve();
      });
      tryWriteLock();
    } finally {
      other.close();
      await handle.close();
    }
  });

  it('opens an in-memory database', async () => {
    const handle = await openDatabase(':memory:');
    const { rows } = await sql<{ n: number }>`select 40 + 2 as n`.execute(handle.db);
    expect(rows).toEqual([{ n: 42 }]);
    await handle.close();
  });

  it('names the file when it is not a SQLite database', async () => {
    const path = join(dir, 'notes.txt');
    writeFileSync(path, 'this is not a database, just some text long enough to be a header');
    const failure = await openDatabase(path).catch((error: unknown) => error);
    expect(codeOf(failure)).toBe('CONFIG_INVALID');
    expect((failure as Error).message).toContain(path);
  });

  it('names the path when its directory cannot be created', async () => {
    const blocker = join(dir, 'file');
    writeFileSync(blocker, '');
    const failure = await openDatabase(join(blocker, 'sub', 'vl.db')).catch((e: unknown) => e);
    expect(codeOf(failure)).toBe('CONFIG_INVALID');
    expect((failure as Error).message).toContain(join(blocker, 'sub', 'vl.db'));
  });
});

describe('openDatabase (PostgreSQL)', () => {
  it('fails fast with CONFIG_INVALID, without the password, when no server listens', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 1));
      });
    });
    const failure = await openDatabase(`postgres://vl:hunter2@127.0.0.1:${port}/vl`).catch(
      (error: unknown) => error,
    );
    expect(codeOf(failure)).toBe('CONFIG_INVALID');
    expect((failure as Error).message).toContain(`postgres://vl:***@127.0.0.1:${port}/vl`);
    expect((failure as Error).message).toMatch(/ECONNREFUSED/);
    expect((failure as Error).message).not.toContain('hunter2');
  });
});
