/**
 * Environment to validated configuration. Each setting is declared once, with its description and default, and the
 * README's settings table is generated from the same declarations. Pure: the environment is passed in.
 */
import { homedir } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import * as z from 'zod';
import { ConfigError } from '../core/errors.js';
import { LOG_LEVELS } from '../core/log.js';
import { BUDGET_PERIODS, type BudgetPeriod } from '../domain/budget.js';
import { SIMULATED } from '../simulator/timing.js';

export interface Platform {
  platform: NodeJS.Platform;
  home: string;
  env: Readonly<Record<string, string | undefined>>;
}

export interface Setting<T> {
  name: string;
  description: string;
  /** The default as the README states it. */
  defaultText: string;
  parse: (raw: string | undefined, platform: Platform) => T;
}

/**
 * A Claude Desktop bundle maps each of its settings to a variable as `${user_config.NAME}`; a setting the user left
 * empty reaches the server as that text unreplaced, which means "not set".
 */
const UNFILLED_PLACEHOLDER = /^\$\{user_config\.[^}]*\}$/;

function setting<T>(
  name: string,
  description: string,
  defaultText: string,
  schema: z.ZodType<T>,
  fallback: (platform: Platform) => T,
): Setting<T> {
  return {
    name,
    description,
    defaultText,
    parse: (raw, platform) => {
      if (raw === undefined || raw.trim() === '' || UNFILLED_PLACEHOLDER.test(raw)) return fallback(platform);
      const parsed = schema.safeParse(raw.trim());
      if (!parsed.success) throw new ConfigError(name, parsed.error.issues[0]?.message ?? 'invalid value');
      return parsed.data;
    },
  };
}

const int = (min: number, max: number) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });

/** A span in minutes, fractions allowed: a test closes idle sessions in a second, not a minute. */
const minutes = (min: number, max: number) =>
  z.coerce
    .number({ error: 'must be a number of minutes' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });

const absolutePath = z
  .string()
  .transform((p) => (p.startsWith('~/') ? join(homedir(), p.slice(2)) : p))
  .refine((p) => isAbsolute(p), { error: 'must be an absolute path' })
  .transform((p) => resolve(p));

const flag = z
  .string()
  .toLowerCase()
  .pipe(z.enum(['1', 'true', 'yes', 'on', '0', 'false', 'no', 'off'], { error: 'must be 1/true or 0/false' }))
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));

function defaultOutputDir({ platform, home }: Platform): string {
  return join(home, platform === 'darwin' ? 'Movies' : 'Videos', 'seedance');
}

function defaultStateDir({ platform, home, env }: Platform): string {
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'seedance-mcp');
  if (platform === 'win32') return join(env.LOCALAPPDATA ?? join(home, 'AppData', 'Local'), 'seedance-mcp');
  const xdg = env.XDG_STATE_HOME;
  return join(xdg !== undefined && isAbsolute(xdg) ? xdg : join(home, '.local', 'state'), 'seedance-mcp');
}

export const SETTINGS = {
  apiKey: setting(
    'APIFRAME_API_KEY',
    'Apiframe API key (`afk_...`). Without it only `estimate_cost` works, unless `--simulate` is on.',
    'none',
    // It travels in a header: anything but visible ASCII cannot be sent, and would fail every call as a "network error".
    z.string().regex(/^[\x21-\x7e]+$/, {
      error: 'must be visible ASCII characters, without spaces (an afk_... key)',
    }),
    () => undefined as string | undefined,
  ),
  baseUrl: setting(
    'APIFRAME_BASE_URL',
    'Apiframe API base URL; point it at any Apiframe-compatible server.',
    '`https://api.apiframe.ai`',
    z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
    () => 'https://api.apiframe.ai',
  ),
  timeoutMs: setting(
    'APIFRAME_TIMEOUT_MS',
    'Timeout of one upstream request attempt, in milliseconds (uploads get more in proportion to their size).',
    '30000',
    int(1_000, 600_000),
    () => 30_000,
  ),
  maxRetries: setting(
    'APIFRAME_MAX_RETRIES',
    'Retries of a failed upstream request (GETs and idempotent POSTs only).',
    '3',
    int(0, 10),
    () => 3,
  ),
  outputDir: setting(
    'SEEDANCE_OUTPUT_DIR',
    'Folder for downloaded videos and last frames; created when missing.',
    '`~/Movies/seedance` on macOS, `~/Videos/seedance` elsewhere',
    absolutePath,
    defaultOutputDir,
  ),
  stateDir: setting(
    'SEEDANCE_STATE_DIR',
    'Folder of the spend ledger (jobs, budget, upload cache), shared by every server process of the user; `--simulate` keeps its own ledger and simulated world in its `simulated` subfolder.',
    '`$XDG_STATE_HOME/seedance-mcp` or `~/.local/state/seedance-mcp` on Linux, `~/Library/Application Support/seedance-mcp` on macOS, `%LOCALAPPDATA%\\seedance-mcp` on Windows',
    absolutePath,
    defaultStateDir,
  ),
  ledgerUrl: setting(
    'SEEDANCE_LEDGER_URL',
    'A PostgreSQL URL (`postgres://user:password@host:5432/db?sslmode=require`) to keep the ledger in, shared by several hosts, instead of the state folder; the usual `PG*` variables fill in what the URL leaves out.',
    'none (the ledger stays in the state folder)',
    z.string().regex(/^postgres(ql)?:\/\/\S*$/, { error: 'must be a postgres:// or postgresql:// URL' }),
    () => undefined as string | undefined,
  ),
  hostLeaseSeconds: setting(
    'SEEDANCE_HOST_LEASE_SECONDS',
    'With `SEEDANCE_LEDGER_URL`: how long a host that stops renewing its lease (it died, or lost the database) keeps its jobs in flight before another host takes them over.',
    '15',
    int(3, 600),
    () => 15,
  ),
  budgetCredits: setting(
    'SEEDANCE_BUDGET_CREDITS',
    'Spending cap in credits per budget period; a video that would go over it is refused before anything is spent.',
    'no cap',
    int(0, 1_000_000_000),
    () => undefined as number | undefined,
  ),
  budgetPeriod: setting(
    'SEEDANCE_BUDGET_PERIOD',
    'What the cap covers: `total` (all time), `day` or `month`; periods start at 00:00 UTC.',
    '`total`',
    z.enum(BUDGET_PERIODS, { error: `must be one of ${BUDGET_PERIODS.join(', ')}` }),
    (): BudgetPeriod => 'total',
  ),
  pricesFile: setting(
    'SEEDANCE_PRICES_FILE',
    'JSON file of credits per second by variant (`{"720p": 4, "720p-refvid": 8}`) overriding the built-in price table.',
    'built-in table',
    absolutePath,
    () => undefined as string | undefined,
  ),
  allowedDirs: setting(
    'SEEDANCE_ALLOWED_DIRS',
    `Folders local files may be read from (separated by \`${delimiter}\`), narrowed further by the client's MCP roots when it declares them. The videos and last frames in \`SEEDANCE_OUTPUT_DIR\` are always readable, to chain shots.`,
    'the home folder',
    z
      .string()
      .transform((list) => list.split(delimiter).filter((p) => p.trim() !== ''))
      .pipe(z.array(absolutePath).min(1, { error: 'must name at least one folder' })),
    ({ home }) => [home],
  ),
  simulate: setting(
    'SEEDANCE_SIMULATE',
    'Run against a built-in Apiframe simulator: no key, no network, no cost; results say `simulated: true`. Same as `--simulate`.',
    '`0`',
    flag,
    () => false,
  ),
  simulatedJobSeconds: setting(
    'SEEDANCE_SIMULATED_JOB_SECONDS',
    'How long a simulated video takes to render, in seconds.',
    String(SIMULATED.jobSeconds),
    int(0, 600),
    () => SIMULATED.jobSeconds,
  ),
  waitSeconds: setting(
    'SEEDANCE_WAIT_SECONDS',
    'How long `generate_video` and `get_video` wait for a video when the call does not say (most clients give up on a tool call after about 60 s).',
    '45',
    int(0, 3_600),
    () => 45,
  ),
  maxWaitSeconds: setting(
    'SEEDANCE_MAX_WAIT_SECONDS',
    'Longest `wait_seconds` a call may ask for.',
    '300',
    int(0, 3_600),
    () => 300,
  ),
  maxDownloadMb: setting(
    'SEEDANCE_MAX_DOWNLOAD_MB',
    'Largest result file downloaded, in MB; a larger one is refused and its remote URL returned instead.',
    '500',
    int(1, 10_000),
    () => 500,
  ),
  playerMediaOrigins: setting(
    'SEEDANCE_PLAYER_MEDIA_ORIGINS',
    "Origins (comma-separated) the video player view may load a video from when it is too large to be sent inline: Apiframe's file CDN, which its docs do not name. Declared in the view's CSP.",
    'none (inline only)',
    z
      .string()
      .transform((list) =>
        list
          .split(',')
          .map((o) => o.trim())
          .filter((o) => o !== ''),
      )
      .pipe(
        z.array(
          z
            .url({ protocol: /^https?$/, error: 'must be http(s) origins' })
            .refine((u) => new URL(u).origin === u.replace(/\/$/, ''), { error: 'must be origins (no path)' })
            .transform((u) => new URL(u).origin),
        ),
      ),
    () => [] as string[],
  ),
  httpTokensFile: setting(
    'SEEDANCE_HTTP_TOKENS_FILE',
    'HTTP mode: JSON file of the members who may call, `[{"name", "token_sha256", "budget_credits", "budget_period"}]` (tokens stored as SHA-256 hex); re-read when it changes.',
    'none',
    absolutePath,
    () => undefined as string | undefined,
  ),
  httpToken: setting(
    'SEEDANCE_HTTP_TOKEN',
    'HTTP mode: one shared bearer token (at least 16 characters), when there is no members file. Without either, the server listens on loopback only.',
    'none',
    z.string().regex(/^[\x21-\x7e]{16,}$/, {
      error: 'must be at least 16 visible ASCII characters, without spaces',
    }),
    () => undefined as string | undefined,
  ),
  publicUrl: setting(
    'SEEDANCE_PUBLIC_URL',
    'HTTP mode: the URL clients reach this server by (behind a reverse proxy, say); its host is accepted in `Host` and `Origin`.',
    'none',
    z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
    () => undefined as string | undefined,
  ),
  fetchAllow: setting(
    'SEEDANCE_FETCH_ALLOW',
    'HTTP mode: host names (comma-separated) the server may fetch even when they resolve to a private or loopback address; every other member-given URL must be public.',
    'none',
    z
      .string()
      .transform((list) =>
        list
          .split(',')
          .map((h) => h.trim().toLowerCase())
          .filter((h) => h !== ''),
      )
      .pipe(z.array(z.string().regex(/^[a-z0-9.:[\]-]+$/, { error: 'must list host names' }))),
    (): string[] => [],
  ),
  httpMaxSessions: setting(
    'SEEDANCE_HTTP_MAX_SESSIONS',
    'HTTP mode: open MCP sessions per member; one more is answered 429.',
    '16',
    int(1, 10_000),
    () => 16,
  ),
  httpMaxInFlight: setting(
    'SEEDANCE_HTTP_MAX_IN_FLIGHT',
    'HTTP mode: requests in flight per member; one more is answered 429 with `Retry-After`.',
    '8',
    int(1, 10_000),
    () => 8,
  ),
  httpIdleMinutes: setting(
    'SEEDANCE_HTTP_IDLE_MINUTES',
    'HTTP mode: a session with no request for this many minutes is closed (its jobs go on); fractions allowed, e.g. `0.5`.',
    '30',
    minutes(0.01, 24 * 60),
    () => 30,
  ),
  logLevel: setting(
    'SEEDANCE_LOG_LEVEL',
    'Log detail on stderr: `debug`, `info`, `warn`, `error` or `silent`.',
    '`info`',
    z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
    (): (typeof LOG_LEVELS)[number] => 'info',
  ),
} as const;

type Settings = typeof SETTINGS;
export type Config = { [K in keyof Settings]: ReturnType<Settings[K]['parse']> };

export function loadConfig(platform: Platform, overrides: Partial<Config> = {}): Config {
  const entries = Object.entries(SETTINGS).map(([key, s]) => [
    key,
    (s as Setting<unknown>).parse(platform.env[s.name], platform),
  ]);
  const config = { ...Object.fromEntries(entries), ...overrides } as Config;
  if (config.waitSeconds > config.maxWaitSeconds) {
    throw new ConfigError(
      SETTINGS.waitSeconds.name,
      `must not exceed ${SETTINGS.maxWaitSeconds.name} (${config.maxWaitSeconds})`,
    );
  }
  return config;
}

export function currentPlatform(env: Readonly<Record<string, string | undefined>> = process.env): Platform {
  return { platform: process.platform, home: homedir(), env };
}
