/** Faults the simulator injects on demand, per route, so tests can prove how the client and tools behave. */
import * as z from 'zod';

export const SIMULATOR_ROUTES = [
  'submit',
  'job',
  'jobs',
  'upload',
  'asset_create',
  'asset',
  'me',
  'models',
  'file',
] as const;
export type SimulatorRoute = (typeof SIMULATOR_ROUTES)[number];

export const FAULT_KINDS = [
  /** 429 with Retry-After, before any work. */
  'rate_limit',
  /** 503, before any work. */
  'unavailable',
  /** 500, before any work. */
  'server_error',
  /** The connection is destroyed before the request is processed. */
  'reset_before',
  /** The request is processed (a job is created, say), then the connection is destroyed without an answer. */
  'reset_after',
  /** The request is processed, and the answer held back for delayMs: longer than the client's timeout. */
  'slow',
  /** The request is processed and answered with a 2xx whose body is not JSON. */
  'malformed',
  /** The request is processed and the answer cut off halfway through its body. */
  'truncated',
  /** The request is processed; the answer's headers and first half are sent, the rest held back for delayMs. */
  'stall',
  /** The request is processed and answered with `fields` set in its JSON body: a hostile or broken upstream. */
  'tamper',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const FaultSchema = z.strictObject({
  route: z.enum(SIMULATOR_ROUTES),
  kind: z.enum(FAULT_KINDS),
  /** How many matching requests it hits. */
  times: z.int().min(1).default(1),
  retryAfterSeconds: z.number().min(0).default(1),
  delayMs: z.int().min(0).default(60_000),
  /** For `tamper`: top-level fields of the answer replaced (a creditCost of -100000, a file: result URL). */
  fields: z.record(z.string(), z.unknown()).default({}),
});
export type Fault = z.output<typeof FaultSchema>;
export type FaultInput = z.input<typeof FaultSchema>;

export class FaultPlan {
  private readonly pending: Fault[] = [];
  /** Faults injected so far, by kind: the reliability suite reports them. */
  readonly injected = new Map<FaultKind, number>();

  add(input: FaultInput): void {
    this.pending.push(FaultSchema.parse(input));
  }

  clear(): void {
    this.pending.length = 0;
  }

  /** The fault for this request, if one is planned; consumes one of its `times`. */
  take(route: SimulatorRoute): Fault | undefined {
    const index = this.pending.findIndex((f) => f.route === route);
    if (index === -1) return undefined;
    const fault = this.pending[index];
    if (fault === undefined) return undefined;
    fault.times -= 1;
    if (fault.times <= 0) this.pending.splice(index, 1);
    this.injected.set(fault.kind, (this.injected.get(fault.kind) ?? 0) + 1);
    return fault;
  }

  get remaining(): number {
    return this.pending.reduce((sum, f) => sum + f.times, 0);
  }
}
