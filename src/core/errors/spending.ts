/**
 * Spending refused before anything is sent: over the budget, over max_credits, or a reused idempotency key. The
 * figures are the shapes of domain/pricing.ts and ledger/types.ts, stated here as far as the messages need them.
 */
import { sanitize } from '../redact.js';
import { SeedanceError } from './base.js';

interface PriceFigures {
  credits: number;
  variant: string;
  creditsPerSecond: number;
  duration: number;
}

/** A cheaper variant of the same video: what changes, and what it costs. */
interface Variant {
  change: string;
  estimate: { credits: number };
}

interface BudgetFigures {
  limit: number | null;
  period: string;
  spent: number;
  reserved: number;
  remaining: number | null;
}

export class BudgetExceededError extends SeedanceError {
  constructor(budget: BudgetFigures, needed: number, options: readonly Variant[]) {
    const cheaper = options.map((o) => `${o.change} (${o.estimate.credits} credits)`).join('; ');
    super(
      'over_budget',
      `This video costs ${needed} credits but only ${budget.remaining ?? 0} of the ${budget.limit} credit budget (${budget.period}) remain: ${budget.spent} spent, ${budget.reserved} reserved by jobs in flight.`,
      {
        recovery: cheaper
          ? `Nothing was submitted. Cheaper variants that fit: ${cheaper}. Or ask the user to raise SEEDANCE_BUDGET_CREDITS.`
          : 'Nothing was submitted, and no variant of this video fits. Wait for jobs in flight to finish, or ask the user to raise SEEDANCE_BUDGET_CREDITS.',
        details: { budget, needed, cheaperOptions: options },
      },
    );
  }
}

export class MaxCreditsExceededError extends SeedanceError {
  constructor(estimate: PriceFigures, maxCredits: number, options: readonly Variant[]) {
    const cheaper = options.map((o) => `${o.change} (${o.estimate.credits} credits)`).join('; ');
    super(
      'over_max_credits',
      `This video costs ${estimate.credits} credits (${estimate.variant}, ${estimate.creditsPerSecond}/s x ${estimate.duration} s), over max_credits ${maxCredits}.`,
      {
        recovery: cheaper
          ? `Nothing was submitted. Variants within max_credits: ${cheaper}.`
          : 'Nothing was submitted, and no variant fits max_credits; raise it if the user agrees.',
        details: { estimate, maxCredits, cheaperOptions: options },
      },
    );
  }
}

/** A video whose rate is neither published nor learned: it is sent only with a ceiling the caller accepts. */
export class UnknownPriceError extends SeedanceError {
  constructor(model: string, variant: string) {
    super(
      'unknown_price',
      `${model} at ${variant} has no published price, and this account has not been charged for one yet, so its cost is not known.`,
      {
        recovery:
          'Nothing was submitted. Give max_credits (the most the user accepts): the budget reserves it, the charge replaces it, and later estimates use the learned rate.',
        details: { model, variant },
      },
    );
  }
}

export class IdempotencyConflictError extends SeedanceError {
  constructor(key: string, jobId: string | null) {
    super(
      'idempotency_conflict',
      `idempotency_key "${sanitize(key, 80)}" was used before for a different request.`,
      {
        recovery: 'Use a new idempotency_key for a new request, or repeat the original request exactly.',
        details: { jobId },
      },
    );
  }
}
