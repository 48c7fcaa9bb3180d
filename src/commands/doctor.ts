/**
 * `seedance-mcp doctor`: checks the setup a client will start the server with, one line each, and exits 0 only when
 * nothing failed. It reads the same environment the server reads, so run it with the settings of the client's entry.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiframeClient } from '../apiframe/client.js';
import { BACKOFF } from '../apiframe/http.js';
import { type Config, loadConfig, SETTINGS } from '../app/config.js';
import { loadPrices, openLedger } from '../app/services.js';
import { SeedanceError } from '../core/errors.js';
import { atLeast } from '../core/node-version.js';
import { redact, registerSecret } from '../core/redact.js';
import { REQUIRED_NODE, USER_AGENT } from '../core/version.js';
import { MODELS } from '../domain/params.js';
import { describeDrift, type Prices, priceDrift } from '../domain/pricing.js';
import { realDirs } from '../inputs/local-files.js';
import { allClientFiles, type ClientFile, KEY_VARIABLE, startsThisServer } from './clients.js';
import { parseConfig, readText, serversIn } from './config-files.js';
import type { CommandContext } from './init.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  status: CheckStatus;
  label: string;
  detail: string;
}

/** The balance call should answer in seconds; doctor must not hang on a dead network. */
const ME_TIMEOUT_MS = 10_000;

function describe(error: unknown): string {
  if (error instanceof SeedanceError) return `${error.message} ${error.recovery}`;
  return error instanceof Error ? error.message : String(error);
}

/** Writes and removes a file in `dir` (creating it when missing): the server needs exactly that. */
async function writable(dir: string): Promise<string | undefined> {
  try {
    await mkdir(dir, { recursive: true });
    const probe = join(dir, `.seedance-doctor-${process.pid}`);
    await writeFile(probe, '');
    await rm(probe);
    return undefined;
  } catch (error) {
    return `${dir} is not writable (${(error as NodeJS.ErrnoException).code ?? describe(error)})`;
  }
}

async function keyCheck(config: Config): Promise<Check> {
  const label = 'Apiframe key';
  if (config.simulate)
    return { status: 'ok', label, detail: 'not needed: simulate mode (the built-in simulator)' };
  if (config.apiKey === undefined) {
    return {
      status: 'fail',
      label,
      detail: `${KEY_VARIABLE} is not set here: doctor checks the environment it runs in, so give it the settings of the client's entry (${KEY_VARIABLE}=afk_... seedance-mcp doctor)`,
    };
  }
  registerSecret(config.apiKey);
  const client = new ApiframeClient({
    baseUrl: config.baseUrl,
    apiKey: config.apiKey,
    timeoutMs: Math.min(config.timeoutMs, ME_TIMEOUT_MS),
    maxRetries: 1,
    retryBaseMs: BACKOFF.retryBaseMs,
    retryCapMs: BACKOFF.retryCapMs,
    maxRetryAfterMs: BACKOFF.maxRetryAfterMs,
    userAgent: USER_AGENT,
  });
  try {
    const me = await client.me({ signal: AbortSignal.timeout(ME_TIMEOUT_MS) });
    const credits = me.team?.credits;
    const plan = me.team?.plan == null ? '' : `, plan ${me.team.plan}`;
    return {
      status: 'ok',
      label,
      detail: `accepted by ${config.baseUrl}; balance ${credits ?? 'unknown'} credits${plan}`,
    };
  } catch (error) {
    return { status: 'fail', label, detail: `not accepted by ${config.baseUrl}: ${describe(error)}` };
  }
}

async function stateCheck(config: Config): Promise<Check> {
  const label = 'State folder';
  const unwritable = await writable(config.stateDir);
  if (unwritable !== undefined) return { status: 'fail', label, detail: unwritable };
  const ledger = await openLedger(config, {
    budgetLimit: config.budgetCredits ?? null,
    period: config.budgetPeriod,
  });
  try {
    const health = await ledger.health();
    if (!health.ok) {
      return { status: 'fail', label, detail: `${health.problem}. ${health.fix}` };
    }
    const budget = await ledger.budget();
    const cap =
      budget.limit === null ? 'no budget cap' : `${budget.remaining} of ${budget.limit} credits left`;
    const period = { total: 'so far', day: 'today', month: 'this month' }[config.budgetPeriod];
    return {
      status: 'ok',
      label,
      detail: `${config.stateDir}: writable; ledger healthy (${health.store} at ${health.location}${config.simulate ? ', simulate mode' : ''}), ${budget.spent} credits spent ${period}, ${cap}`,
    };
  } catch (error) {
    return {
      status: 'fail',
      label,
      detail: `${config.stateDir}: the ledger cannot be used: ${describe(error)}`,
    };
  } finally {
    await ledger.close();
  }
}

async function outputCheck(config: Config): Promise<Check> {
  const unwritable = await writable(config.outputDir);
  return unwritable === undefined
    ? { status: 'ok', label: 'Output folder', detail: `${config.outputDir}: writable` }
    : { status: 'fail', label: 'Output folder', detail: unwritable };
}

async function allowedCheck(config: Config): Promise<Check> {
  const label = 'Allowed folders';
  const found = await realDirs(config.allowedDirs);
  const missing = config.allowedDirs.length - found.length;
  if (found.length === 0) {
    return {
      status: 'fail',
      label,
      detail: `none of ${config.allowedDirs.join(', ')} exists: local files cannot be used (${SETTINGS.allowedDirs.name})`,
    };
  }
  return {
    status: missing > 0 ? 'warn' : 'ok',
    label,
    detail: `${found.join(', ')}${missing > 0 ? ` (${missing} named in ${SETTINGS.allowedDirs.name} not found)` : ''}`,
  };
}

async function pricesCheck(config: Config): Promise<Check> {
  const label = 'Price table';
  try {
    const prices = await loadPrices(config);
    const source =
      config.pricesFile === undefined
        ? 'built-in (the Seedance 2.0 page)'
        : `${config.pricesFile} (SEEDANCE_PRICES_FILE)`;
    const drift = await learnedDrift(config, prices);
    const published = MODELS.flatMap((model) => {
      const table = Object.entries(prices[model] ?? {});
      return table.length === 0 ? [] : [`${model} ${table.map(([v, rate]) => `${v} ${rate}`).join(', ')}`];
    });
    return {
      status: drift.length === 0 ? 'ok' : 'warn',
      label,
      detail: `${source}: ${published.join('; ')} credits/s; others learned from charges or bounded by max_credits${
        drift.length === 0 ? '' : `. PRICE DRIFT (update SEEDANCE_PRICES_FILE): ${drift.join('; ')}`
      }`,
    };
  } catch (error) {
    return { status: 'fail', label, detail: describe(error) };
  }
}

/** Published rates this account's charges disagree with; none in simulate mode or before the ledger exists. */
async function learnedDrift(config: Config, prices: Prices): Promise<string[]> {
  if (config.simulate || (await writable(config.stateDir)) !== undefined) return [];
  const ledger = await openLedger(config, {
    budgetLimit: config.budgetCredits ?? null,
    period: config.budgetPeriod,
  });
  try {
    return priceDrift({ prices, learned: await ledger.learnedRates() }).map(describeDrift);
  } finally {
    await ledger.close();
  }
}

/** Every client file naming this server; a key written into a file usually committed fails. */
async function clientChecks(where: CommandContext['where'], cwd: string): Promise<Check[]> {
  const checks: Check[] = [];
  const look = async (file: ClientFile) => {
    const label = `${file.client} (${file.scope})`;
    let servers: Record<string, unknown>;
    try {
      const text = await readText(file.path);
      if (text === undefined) return;
      servers = serversIn(file, parseConfig(file, text));
    } catch (error) {
      checks.push({ status: 'warn', label, detail: describe(error) });
      return;
    }
    for (const [name, entry] of Object.entries(servers)) {
      if (!startsThisServer(name, entry)) continue;
      const key = (entry as { env?: Record<string, unknown> }).env?.[KEY_VARIABLE];
      if (file.shared && typeof key === 'string' && !key.startsWith('${')) {
        checks.push({
          status: 'fail',
          label,
          detail: `${file.path} names "${name}" with the key written in it, in a file usually committed: use a reference (seedance-mcp init ${file.client} --scope project)`,
        });
      } else checks.push({ status: 'ok', label, detail: `${file.path} names "${name}"` });
    }
  };
  for (const file of allClientFiles(where, cwd)) await look(file);
  if (checks.length === 0) {
    checks.push({
      status: 'warn',
      label: 'Clients',
      detail: 'no client configuration names this server yet: seedance-mcp init <client> adds it',
    });
  }
  return checks;
}

export async function runDoctor(ctx: CommandContext): Promise<number> {
  const checks: Check[] = [];
  const node = process.versions.node;
  checks.push(
    atLeast(node, REQUIRED_NODE)
      ? { status: 'ok', label: 'Node.js', detail: `${node} (needs ${REQUIRED_NODE} or later)` }
      : { status: 'fail', label: 'Node.js', detail: `${node}: needs ${REQUIRED_NODE} or later` },
  );
  let config: Config | undefined;
  try {
    config = loadConfig(ctx.where);
  } catch (error) {
    checks.push({ status: 'fail', label: 'Settings', detail: describe(error) });
  }
  if (config !== undefined) {
    checks.push(await keyCheck(config));
    checks.push(await stateCheck(config));
    checks.push(await outputCheck(config));
    checks.push(await allowedCheck(config));
    checks.push(await pricesCheck(config));
  }
  checks.push(...(await clientChecks(ctx.where, ctx.cwd)));
  const width = Math.max(...checks.map((c) => c.label.length));
  for (const c of checks) ctx.out(redact(`${c.status.padEnd(4)} ${c.label.padEnd(width)}  ${c.detail}`));
  const failed = checks.filter((c) => c.status === 'fail').length;
  ctx.out(failed === 0 ? 'All is well.' : `${failed} problem${failed === 1 ? '' : 's'} to fix.`);
  return failed === 0 ? 0 : 1;
}
