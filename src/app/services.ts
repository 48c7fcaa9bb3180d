/**
 * Everything a tool call needs, built once from the configuration: the Apiframe client, the ledger, the price
 * table, the job and asset services. With `simulate`, an in-process simulator stands in for Apiframe; it keeps its
 * world, and the server its ledger, in a folder of their own inside SEEDANCE_STATE_DIR, apart from the real ledger,
 * so that a restart in simulate mode finds the earlier jobs as it would against Apiframe.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AccountCache } from '../apiframe/account.js';
import { ApiframeClient } from '../apiframe/client.js';
import { BACKOFF } from '../apiframe/http.js';
import { ConfigError } from '../core/errors.js';
import { type Fetcher, guardedFetch } from '../core/guarded-fetch.js';
import { log } from '../core/log.js';
import { registerSecret } from '../core/redact.js';
import { USER_AGENT } from '../core/version.js';
import { WEBHOOK_EVENTS } from '../domain/params.js';
import { type Prices, PUBLISHED_PRICES, parsePriceTable } from '../domain/pricing.js';
import { AssetService } from '../inputs/assets.js';
import { realDirs } from '../inputs/local-files.js';
import { DEFAULT_POLL, type PollSchedule, SAFETY_NET_POLL } from '../jobs/feed/schedule.js';
import { JobService } from '../jobs/service.js';
import { LEDGER_FILE, openSqliteLedger } from '../ledger/index.js';
import type { Ledger, LedgerOptions } from '../ledger/types.js';
import { simulatedTiming } from '../simulator/timing.js';
import { CATALOG_FILE, CatalogCache } from './catalog.js';
import { type Config, SETTINGS } from './config.js';
import type { TransportKind } from './session.js';

/** The key the in-process simulator accepts; it is no secret. */
export const SIMULATED_API_KEY = 'afk_simulated_offline';

/** Where Apiframe posts job changes, and the key their signatures are checked with (HTTP mode with a public URL). */
export interface Webhooks {
  url: string;
  /** The raw SHA-256 digest of the API key: Apiframe's HMAC key for `X-Webhook-Signature`. */
  key: Buffer;
}

/** The path webhooks are received at, under SEEDANCE_PUBLIC_URL. */
export const WEBHOOK_PATH = 'webhooks/apiframe';

export interface Services {
  config: Config;
  /** Set when Apiframe sends webhooks to this server. */
  webhooks: Webhooks | undefined;
  simulated: boolean;
  client: ApiframeClient;
  ledger: Ledger;
  /** Published rates: the Seedance page's table with SEEDANCE_PRICES_FILE over it. */
  prices: Prices;
  /** Apiframe's model catalog: what is available, and the bounds of unknown rates. */
  catalog: CatalogCache;
  account: AccountCache;
  jobs: JobService;
  /** The polling schedule jobs are followed on: what a task's pollInterval tells clients. */
  poll: PollSchedule;
  assets: AssetService;
  /** Real paths of SEEDANCE_ALLOWED_DIRS. */
  allowedDirs: string[];
  now(): number;
  close(): Promise<void>;
}

export interface ServiceOverrides {
  /** Tests shorten the polling schedule and backoff so that simulated jobs finish in milliseconds. */
  poll?: PollSchedule;
  assetPollMs?: { first: number; cap: number };
  retryBaseMs?: number;
  retryCapMs?: number;
  ledger?: Ledger;
  claimPollMs?: number;
  /** Longest wait for an uploaded asset to become Active. */
  assetActivationMs?: number;
}

/** Where simulate mode keeps its ledger and the simulator's world: never beside the real ledger. */
export function simulatedStateDir(config: Pick<Config, 'stateDir'>): string {
  return join(config.stateDir, 'simulated');
}

export async function loadPrices(config: Config): Promise<Prices> {
  if (config.pricesFile === undefined) return PUBLISHED_PRICES;
  let text: string;
  try {
    text = await readFile(config.pricesFile, 'utf8');
  } catch (error) {
    throw new ConfigError(
      SETTINGS.pricesFile.name,
      `cannot read ${config.pricesFile} (${(error as NodeJS.ErrnoException).code})`,
    );
  }
  try {
    return parsePriceTable(JSON.parse(text));
  } catch (error) {
    throw new ConfigError(SETTINGS.pricesFile.name, `${config.pricesFile}: ${(error as Error).message}`);
  }
}

/**
 * How media and result URLs are fetched. Over stdio the user is the machine's owner and fetches what they like; over
 * HTTP the URLs come from remote members, so nothing private is fetched (results also from the Apiframe origin).
 */
function fetchers(config: Config, baseUrl: string, transport: TransportKind) {
  if (transport === 'stdio') return { media: fetch as Fetcher, results: fetch as Fetcher };
  const allowSetting = SETTINGS.fetchAllow.name;
  const allowHosts = new Set(config.fetchAllow);
  return {
    media: guardedFetch({ allowHosts, allowSetting }),
    results: guardedFetch({ allowHosts: new Set([...allowHosts, new URL(baseUrl).hostname]), allowSetting }),
  };
}

/**
 * The ledger: PostgreSQL when SEEDANCE_LEDGER_URL names one (hosts sharing it), else SQLite in the state folder;
 * simulate mode keeps its own SQLite ledger apart from the real one. `doctor` checks the same one the server uses.
 */
export async function openLedger(config: Config, options: LedgerOptions): Promise<Ledger> {
  if (config.simulate) return openSqliteLedger(join(simulatedStateDir(config), LEDGER_FILE), options);
  if (config.ledgerUrl === undefined) return openSqliteLedger(join(config.stateDir, LEDGER_FILE), options);
  // Loaded only here, so that a server on the file ledger never loads the PostgreSQL client.
  const { openPostgresLedger } = await import('../ledger/postgres-store.js');
  return openPostgresLedger(config.ledgerUrl, { ...options, hostLeaseMs: config.hostLeaseSeconds * 1000 });
}

export async function createServices(
  config: Config,
  overrides: ServiceOverrides = {},
  transport: TransportKind = 'stdio',
): Promise<Services> {
  const prices = await loadPrices(config);
  let baseUrl = config.baseUrl;
  let apiKey = config.apiKey;
  let closeSimulator: (() => Promise<void>) | undefined;
  if (config.simulate) {
    const { startSimulator } = await import('../simulator/server.js');
    const simulator = await startSimulator({
      ...simulatedTiming(config.simulatedJobSeconds),
      prices,
      stateFile: join(simulatedStateDir(config), 'simulator.json'),
    });
    baseUrl = simulator.url;
    apiKey = SIMULATED_API_KEY;
    closeSimulator = () => simulator.close();
  }
  registerSecret(apiKey);
  const fetch = fetchers(config, baseUrl, transport);
  const webhooks: Webhooks | undefined =
    transport === 'http' && config.publicUrl !== undefined && apiKey !== undefined
      ? {
          url: new URL(
            WEBHOOK_PATH,
            config.publicUrl.endsWith('/') ? config.publicUrl : `${config.publicUrl}/`,
          ).href,
          key: createHash('sha256').update(apiKey).digest(),
        }
      : undefined;
  const client = new ApiframeClient({
    baseUrl,
    apiKey,
    timeoutMs: config.timeoutMs,
    maxRetries: config.maxRetries,
    retryBaseMs: overrides.retryBaseMs ?? BACKOFF.retryBaseMs,
    retryCapMs: overrides.retryCapMs ?? BACKOFF.retryCapMs,
    maxRetryAfterMs: BACKOFF.maxRetryAfterMs,
    userAgent: USER_AGENT,
  });
  const ledgerOptions = { budgetLimit: config.budgetCredits ?? null, period: config.budgetPeriod };
  const ledger = overrides.ledger ?? (await openLedger(config, ledgerOptions));
  const account = new AccountCache(client);
  const poll = overrides.poll ?? (webhooks === undefined ? DEFAULT_POLL : SAFETY_NET_POLL);
  const catalog = new CatalogCache(client, config.simulate ? undefined : join(config.stateDir, CATALOG_FILE));
  const jobs = new JobService(client, ledger, account, prices, {
    rateBounds: () => catalog.bounds(),
    poll,
    webhook: webhooks === undefined ? undefined : { url: webhooks.url, events: [...WEBHOOK_EVENTS] },
    outputDir: config.outputDir,
    maxDownloadBytes: config.maxDownloadMb * 1024 * 1024,
    downloadTimeoutMs: Math.max(config.timeoutMs, 120_000),
    userAgent: USER_AGENT,
    fetch: fetch.results,
    claimPollMs: overrides.claimPollMs ?? 250,
  });
  const assets = new AssetService(client, ledger, {
    // Bounded like a wait for a video: clients give up on a call after about a minute.
    activationTimeoutMs:
      overrides.assetActivationMs ?? Math.min(120_000, Math.max(10_000, config.waitSeconds * 1000)),
    pollMs: overrides.assetPollMs ?? { first: 500, cap: 2_000 },
    cacheTtlMs: 12 * 60 * 60 * 1000,
    userAgent: USER_AGENT,
    fetch: fetch.media,
  });
  // Shared by several hosts, the ledger may hold jobs of a host that died: take them over as its lease runs out.
  const takeOver =
    config.ledgerUrl !== undefined && !config.simulate && config.apiKey !== undefined
      ? setInterval(
          () =>
            void jobs
              .adoptOrphans()
              .catch((error: unknown) => log.warn('could not take over jobs', { error: String(error) })),
          (config.hostLeaseSeconds * 1000) / 3,
        ).unref()
      : undefined;
  return {
    config,
    webhooks,
    simulated: config.simulate,
    client,
    ledger,
    prices,
    catalog,
    account,
    jobs,
    poll,
    assets,
    allowedDirs: await realDirs(config.allowedDirs),
    now: Date.now,
    async close() {
      clearInterval(takeOver);
      jobs.close();
      catalog.close();
      await ledger.close();
      await closeSimulator?.();
    },
  };
}
