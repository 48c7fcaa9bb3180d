/** The account's credit balance from `GET /v2/me`, cached briefly: results report it without a call each time. */
import { CancelledError, SeedanceError } from '../core/errors.js';
import { sanitize } from '../core/redact.js';
import type { ApiframeClient } from './client.js';

export interface Balance {
  credits: number | null;
  plan: string | null;
  /** Why the balance is unknown, when it is. */
  unavailable: string | null;
}

/**
 * The balance only informs: a slow or failing `/v2/me` must not hold an answer (every tool result shows the balance)
 * longer than this, nor be asked again at once.
 */
export const BALANCE_WAIT_MS = 3_000;
const FAILURE_TTL_MS = 10_000;

export class AccountCache {
  private cached: { at: number; ttl: number; value: Balance } | undefined;
  private pending: Promise<Balance> | undefined;

  constructor(
    private readonly client: ApiframeClient,
    private readonly ttlMs = 30_000,
    private readonly now: () => number = Date.now,
    private readonly waitMs = BALANCE_WAIT_MS,
  ) {}

  /** Forget the cached figure: after a job is charged or refunded the balance has moved. */
  invalidate(): void {
    this.cached = undefined;
  }

  async balance(): Promise<Balance> {
    if (!this.client.hasApiKey)
      return { credits: null, plan: null, unavailable: 'APIFRAME_API_KEY is not set' };
    if (this.cached !== undefined && this.now() - this.cached.at < this.cached.ttl) return this.cached.value;
    this.pending ??= this.fetch().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async fetch(): Promise<Balance> {
    try {
      const me = await this.client.me({ signal: AbortSignal.timeout(this.waitMs) });
      const value: Balance = {
        credits: me.team?.credits ?? null,
        // Shown in every result: an upstream string, so kept short and printable.
        plan: me.team?.plan == null ? null : sanitize(me.team.plan, 60),
        unavailable: null,
      };
      this.cached = { at: this.now(), ttl: this.ttlMs, value };
      return value;
    } catch (error) {
      const reason =
        error instanceof SeedanceError && !(error instanceof CancelledError)
          ? error.message
          : `GET /v2/me: no answer within ${this.waitMs / 1000} s`;
      const value: Balance = { credits: null, plan: null, unavailable: reason };
      this.cached = { at: this.now(), ttl: FAILURE_TTL_MS, value };
      return value;
    }
  }
}
