/**
 * The two requests the retraining suites make through `app.inject()`: a viewer's GET that must
 * answer 200 (its body parsed), and an admin's POST whose response the test inspects. Takes the
 * server lazily, as the suites open it in `beforeAll`. Test-only.
 */
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { RetrainingServer } from './fixtures.js';

export interface RetrainingRequests {
  /** GET `url` as the viewer; fails the test unless it answers 200. */
  get: <T>(url: string) => Promise<T>;
  /** POST `payload` (default `{}`) to `url` as the admin. */
  post: (url: string, payload?: object) => Promise<LightMyRequestResponse>;
}

export function retrainingRequests(server: () => RetrainingServer): RetrainingRequests {
  async function get<T>(url: string): Promise<T> {
    const { app, viewer } = server();
    const response = await app.inject({ method: 'GET', url, headers: viewer });
    expect(response.statusCode, `${url}: ${response.body}`).toBe(200);
    return response.json<T>();
  }

  async function post(url: string, payload: object = {}): Promise<LightMyRequestResponse> {
    const { app, admin } = server();
    return app.inject({ method: 'POST', url, headers: admin, payload });
  }

  return { get, post };
}
