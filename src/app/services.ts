/**
 * Everything a tool call needs, built once from the configuration: the Apiframe client, the ledger, the price
 * table, the job and asset services. With `simulate`, an in-process simulator stands in for Apiframe and the ledger
 * lives in memory (the simulator's jobs die with the process, so they must not outlive it in a ledger either).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AccountCache } from '../apiframe/account.js';
import { ApiframeClient } from '../apiframe/client.js';
import { BACKOFF } from '../apiframe/http.js';
import { ConfigError } from '../core/errors.js';
import { log } from '../core/log.js';
import { registerSecret } from '../core/redact.js';
import { USER_AGENT } from '../core/version.js';
import { DEFAULT_PRICES, type PriceTable, parsePriceTable } from '../domain/pricing.js';
import { AssetService } from '../inputs/assets.js';
import { realDirs } from '../inputs/local-files.js';
import { JobService } from '../jobs/service.js';
import { DEFAULT_POLL, type PollSchedule } from '../jobs/watcher.js';
import { createMemoryLedger, LEDGER_FILE, openSqliteLedger } from '../ledger/index.js';
import type { Ledger, LedgerOptions } from '../ledger/types.js';
import { type Config, SETTINGS } from './config.js';

/** The key the in-process simulator accepts; it is no secret. */
export const SIMULATED_API_KEY = 'afk_simulated_offline';

export interface Services {
  config: Config;
  simulated: boolean;
  client: ApiframeClient;
  ledger: Ledger;
  prices: PriceTable;
  account: AccountCache;
  jobs: JobService;
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

export async function loadPrices(config: Config): Promise<PriceTable> {
  if (config.pricesFile === undefined) return DEFAULT_PRICES;
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

async function openLedger(config: Config, options: LedgerOptions): Promise<Ledger> {
  if (config.simulate) return createMemoryLedger(options);
  if (config.ledgerUrl === undefined) return openSqliteLedger(join(config.stateDir, LEDGER_FILE), options);
  // Loaded only here, so that a server on the file ledger never loads the PostgreSQL client.
  const { openPostgresLedger } = await import('../ledger/postgres-store.js');
  return openPostgresLedger(config.ledgerUrl, { ...options, hostLeaseMs: config.hostLeaseSeconds * 1000 });
}

export async function createServices(config: Config, overrides: ServiceOverrides = {}): Promise<Services> {
  const prices = await loadPrices(config);
  let baseUrl = config.baseUrl;
  let apiKey = config.apiKey;
  let closeSimulator: (() => Promise<void>) | undefined;
  if (config.simulate) {
    const { startSimulator } = await import('../simulator/server.js');
    const jobMs = config.simulatedJobSeconds * 1000;
    const simulator = await startSimulator({
      queuedMs: Math.floor(jobMs / 10),
      processingMs: jobMs - Math.floor(jobMs / 10),
      assetProcessingMs: Math.min(1_000, jobMs),
      prices,
    });
    baseUrl = simulator.url;
    apiKey = SIMULATED_API_KEY;
    closeSimulator = () => simulator.close();
  }
  registerSecret(apiKey);
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
  const jobs = new JobService(client, ledger, account, prices, {
    poll: overrides.poll ?? DEFAULT_POLL,
    outputDir: config.outputDir,
    maxDownloadBytes: config.maxDownloadMb * 1024 * 1024,
    downloadTimeoutMs: Math.max(config.timeoutMs, 120_000),
    userAgent: USER_AGENT,
    claimPollMs: overrides.claimPollMs ?? 250,
  });
  const assets = new AssetService(client, ledger, {
    // Bounded like a wait for a video: clients give up on a call after about a minute.
    activationTimeoutMs:
      overrides.assetActivationMs ?? Math.min(120_000, Math.max(10_000, config.waitSeconds * 1000)),
    pollMs: overrides.assetPollMs ?? { first: 500, cap: 2_000 },
    cacheTtlMs: 12 * 60 * 60 * 1000,
    userAgent: USER_AGENT,
  });
  // Shared by several hosts, the ledger may hold jobs of a host that died: take them over as its lease runs out.
  const takeOver =
    config.ledgerUrl !== undefined && !config.simulate && config.apiKey !== undefined
      ? setInterval(
          () =>
            void jobs
              .resumeOrphans()
              .catch((error: unknown) => log.warn('could not take over jobs', { error: String(error) })),
          (config.hostLeaseSeconds * 1000) / 3,
        ).unref()
      : undefined;
  return {
    config,
    simulated: config.simulate,
    client,
    ledger,
    prices,
    account,
    jobs,
    assets,
    allowedDirs: await realDirs(config.allowedDirs),
    now: Date.now,
    async close() {
      clearInterval(takeOver);
      jobs.close();
      await ledger.close();
      await closeSimulator?.();
    },
  };
}
