/**
 * API tokens: issuing, checking, listing and revoking them.
 *
 * A token is `vl_` + 32 random bytes in base64url. Only its sha256 is stored; checking one
 * hashes the presented secret, finds the row by hash and compares the hashes in constant time.
 * The secret is returned once, by `createToken`, and never logged or stored anywhere else.
 * There is no default token and no password: the first admin token is created by
 * `ensureAdminToken` (the server's first start) or `visionloop token create` on the host.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiTokenRow } from '../db/schema.js';
import type { TokenRepository } from '../repositories/token.repository.js';
import type { Scope } from '../shared/api/common.js';
import { TOKEN_PATTERN } from '../shared/api/tokens.js';
import type { CreateTokenRequest, CreatedToken, TokenInfo } from '../shared/api/tokens.js';
import { VisionLoopError } from '../shared/errors.js';

/** How often at most `last_used_at` is written per token, ms: a busy agent must not write per request. */
export const DEFAULT_TOUCH_INTERVAL_MS = 60_000;

/** A new secret: `vl_` + 43 base64url characters. */
export function generateTokenSecret(): string {
  return `vl_${randomBytes(32).toString('base64url')}`;
}

/** The sha256 hex of a token secret: what the database stores. */
export function hashToken(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

function newTokenId(): string {
  return `tok_${randomBytes(9).toString('hex')}`;
}

function toInfo(row: ApiTokenRow): TokenInfo {
  return {
    id: row.id,
    name: row.name,
    scope: row.scope,
    createdAt: row.created_at,
    createdBy: row.created_by,
    lastUsedAt: row.last_used_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

/** Who a valid token belongs to (the HTTP layer's `Principal`). */
export interface TokenHolder {
  tokenId: string;
  name: string;
  scope: Scope;
}

export interface AuthServiceOptions {
  now?: () => number;
  touchIntervalMs?: number;
  /** Called when recording a token's last use fails (it never fails the request). */
  onTouchError?: (error: unknown) => void;
}

export class AuthService {
  private readonly now: () => number;
  private readonly touchIntervalMs: number;
  private readonly onTouchError: (error: unknown) => void;
  /** Token id → when this process last wrote its `last_used_at`. */
  private readonly touchedAt = new Map<string, number>();
  private readonly pendingTouches = new Set<Promise<void>>();

  constructor(
    private readonly tokens: TokenRepository,
    options: AuthServiceOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.touchIntervalMs = options.touchIntervalMs ?? DEFAULT_TOUCH_INTERVAL_MS;
    this.onTouchError = options.onTouchError ?? (() => undefined);
  }

  /**
   * The principal a presented secret stands for, or null when it is malformed, unknown,
   * revoked or expired.
   */
  async authenticate(secret: string): Promise<TokenHolder | null> {
    if (!TOKEN_PATTERN.test(secret)) return null;
    const hash = hashToken(secret);
    const row = await this.tokens.findByHash(hash);
    if (row === undefined) return null;
    // The lookup already matched; compare again in constant time so no code path's timing
    // depends on how much of a stored hash a guess shares.
    const stored = Buffer.from(row.token_hash, 'hex');
    const presented = Buffer.from(hash, 'hex');
    if (stored.length !== presented.length || !timingSafeEqual(stored, presented)) return null;
    const now = this.now();
    if (row.revoked_at !== null) return null;
    if (row.expires_at !== null && row.expires_at <= now) return null;
    this.touch(row.id, now);
    return { tokenId: row.id, name: row.name, scope: row.scope };
  }

  /** Issues a token. The answer is the only place the secret ever appears. */
  async createToken(request: CreateTokenRequest, createdBy: string | null): Promise<CreatedToken> {
    const now = this.now();
    if (request.expiresAt !== undefined && request.expiresAt <= now) {
      throw new VisionLoopError('INVALID_ARGUMENT', 'expiresAt must be in the future');
    }
    const secret = generateTokenSecret();
    const row: ApiTokenRow = {
      id: newTokenId(),
      name: request.name,
      scope: request.scope,
      token_hash: hashToken(secret),
      created_at: now,
      created_by: createdBy,
      last_used_at: null,
      expires_at: request.expiresAt ?? null,
      revoked_at: null,
    };
    await this.tokens.insert(row);
    return { ...toInfo(row), token: secret };
  }

  async listTokens(): Promise<TokenInfo[]> {
    return (await this.tokens.list()).map(toInfo);
  }

  /** Revokes a token (idempotent). NOT_FOUND when no token has this id. */
  async revokeToken(id: string): Promise<TokenInfo> {
    await this.tokens.revoke(id, this.now());
    const row = await this.tokens.findById(id);
    if (row === undefined) throw new VisionLoopError('NOT_FOUND', `no token with id ${id}`);
    return toInfo(row);
  }

  /**
   * Creates an admin token when no usable one exists (first start, or every admin token was
   * revoked). Returns it, or null when one exists.
   */
  async ensureAdminToken(name = 'admin (created on first start)'): Promise<CreatedToken | null> {
    if ((await this.tokens.countUsable('admin', this.now())) > 0) return null;
    return this.createToken({ name, scope: 'admin' }, 'server');
  }

  /** Waits for pending `last_used_at` writes (before closing the database). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.pendingTouches]);
  }

  private touch(id: string, now: number): void {
    const last = this.touchedAt.get(id);
    if (last !== undefined && now - last < this.touchIntervalMs) return;
    this.touchedAt.set(id, now);
    const pending = this.tokens.touch(id, now).catch((error: unknown) => {
      this.touchedAt.delete(id);
      this.onTouchError(error);
    });
    this.pendingTouches.add(pending);
    void pending.finally(() => this.pendingTouches.delete(pending));
  }
}
