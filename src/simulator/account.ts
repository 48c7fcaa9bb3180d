/** Who is calling: API-key checks, and the `/v2/me` answer for a key. */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpFailure, headerValue } from './http.js';

export function authenticate(
  req: IncomingMessage,
  inactiveKeys: readonly string[] = ['afk_inactive'],
): string {
  const key = headerValue(req, 'x-api-key') ?? bearer(headerValue(req, 'authorization'));
  if (key === undefined || key === '') throw new HttpFailure(401, { error: 'API key is required' });
  if (!/^afk_[A-Za-z0-9_-]+$/.test(key)) throw new HttpFailure(401, { error: 'Invalid API key' });
  if (inactiveKeys.includes(key)) {
    throw new HttpFailure(403, { error: 'API key is inactive' });
  }
  return key;
}

function bearer(value: string | undefined): string | undefined {
  return value?.toLowerCase().startsWith('bearer ') ? value.slice(7).trim() : undefined;
}

export function accountJson(apiKey: string, credits: number) {
  return {
    user: {
      id: stableUuid(`user:${apiKey}`),
      email: 'simulated@seedance-mcp.invalid',
      role: 'OWNER',
    },
    team: {
      id: stableUuid(`team:${apiKey}`),
      name: 'Simulated team',
      credits,
      plan: 'simulated',
      customerId: null,
    },
    apiKey: { id: stableUuid(`key:${apiKey}`), name: 'simulator', prefix: apiKey.slice(0, 8) },
  };
}

function stableUuid(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
