/**
 * Who may call the HTTP server. A members file (`SEEDANCE_HTTP_TOKENS_FILE`) names each member with the SHA-256 of
 * their token and their own budget, and is re-read when it changes; or one shared token (`SEEDANCE_HTTP_TOKEN`); or
 * nobody at all, which the server accepts on loopback only. Tokens are compared as hashes in constant time, and
 * never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, type StatWatcher, unwatchFile, watchFile } from 'node:fs';
import * as z from 'zod';
import { type Config, SETTINGS } from '../../app/config.js';
import { ConfigError } from '../../core/errors.js';
import { log } from '../../core/log.js';
import { registerSecret } from '../../core/redact.js';
import { BUDGET_PERIODS } from '../../domain/budget.js';
import type { MemberScope } from '../../ledger/types.js';

const MemberScopesFile = z
  .array(
    z.strictObject({
      name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
        error: 'must be 1-64 letters, digits, ".", "_" or "-"',
      }),
      token_sha256: z
        .string()
        .regex(/^[0-9a-fA-F]{64}$/, { error: 'must be the 64 hex digits of the SHA-256 of the token' }),
      budget_credits: z.number().int().min(0).max(1_000_000_000).nullable().optional(),
      budget_period: z.enum(BUDGET_PERIODS).optional(),
    }),
  )
  .min(1, { error: 'must list at least one member' })
  .superRefine((members, ctx) => {
    const names = new Set<string>();
    const hashes = new Set<string>();
    for (const [i, m] of members.entries()) {
      if (names.has(m.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: 'is used twice' });
      if (hashes.has(m.token_sha256.toLowerCase()))
        ctx.addIssue({ code: 'custom', path: [i, 'token_sha256'], message: 'is used twice' });
      names.add(m.name);
      hashes.add(m.token_sha256.toLowerCase());
    }
  });

interface Entry {
  member: MemberScope;
  hash: Buffer;
}

export type AuthOutcome =
  | { kind: 'member'; member: MemberScope | undefined }
  | { kind: 'refused'; reason: 'missing' | 'malformed' | 'unknown' };

export interface Access {
  /** `open`: nobody needs a token (loopback only). */
  mode: 'open' | 'shared' | 'file';
  authenticate(authorization: string | undefined): AuthOutcome;
  close(): void;
}

function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function parseMemberScopesFile(path: string, defaultPeriod: Config['budgetPeriod']): Entry[] {
  const name = SETTINGS.httpTokensFile.name;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(name, `cannot read ${path} (${code ?? (error as Error).message})`);
  }
  const parsed = MemberScopesFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(
      name,
      `${path}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'invalid'}`.trim(),
    );
  }
  return parsed.data.map((m) => ({
    member: {
      name: m.name,
      budgetLimit: m.budget_credits ?? null,
      period: m.budget_period ?? defaultPeriod,
    },
    hash: Buffer.from(m.token_sha256, 'hex'),
  }));
}

function matcher(entries: () => readonly Entry[]) {
  return (authorization: string | undefined): AuthOutcome => {
    if (authorization === undefined || authorization === '') return { kind: 'refused', reason: 'missing' };
    const match = /^Bearer ([\x21-\x7e]+)$/i.exec(authorization.trim());
    if (match?.[1] === undefined) return { kind: 'refused', reason: 'malformed' };
    const presented = hashToken(match[1]);
    let found: MemberScope | undefined;
    // Every entry is compared, so that the time taken says nothing about which one matched.
    for (const entry of entries()) if (timingSafeEqual(presented, entry.hash)) found ??= entry.member;
    return found === undefined ? { kind: 'refused', reason: 'unknown' } : { kind: 'member', member: found };
  };
}

export function loadAccess(config: Config): Access {
  if (config.httpTokensFile !== undefined) {
    const path = config.httpTokensFile;
    let entries = parseMemberScopesFile(path, config.budgetPeriod);
    const watcher: StatWatcher = watchFile(path, { interval: 1_000, persistent: false }, (now, before) => {
      if (now.mtimeMs === before.mtimeMs && now.size === before.size && now.ino === before.ino) return;
      try {
        entries = parseMemberScopesFile(path, config.budgetPeriod);
        log.info('members file re-read', { members: entries.length });
      } catch (error) {
        log.error('members file not re-read; the previous members stay', {
          error: error instanceof Error ? error.message : String(error),
        });
      }
    });
    watcher.unref();
    return { mode: 'file', authenticate: matcher(() => entries), close: () => unwatchFile(path) };
  }
  if (config.httpToken !== undefined) {
    registerSecret(config.httpToken);
    const entries: Entry[] = [
      {
        member: { name: 'shared', budgetLimit: null, period: config.budgetPeriod },
        hash: hashToken(config.httpToken),
      },
    ];
    return { mode: 'shared', authenticate: matcher(() => entries), close: () => {} };
  }
  return { mode: 'open', authenticate: () => ({ kind: 'member', member: undefined }), close: () => {} };
}
