/** Test and demo controls under `/__simulator/`, outside Apiframe's namespace; they need no key. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as z from 'zod';
import { settleRefunds } from './clock.js';
import { type FaultPlan, FaultSchema, type SimulatorRoute } from './faults.js';
import { HttpFailure, type RecordedExchange, readJson, send, zodDetails } from './http.js';
import type { SimState } from './state.js';

export interface Controlled extends SimState {
  readonly faults: FaultPlan;
  readonly hits: Map<SimulatorRoute, number>;
  forceJob(id: string, status: 'PROCESSING' | 'COMPLETED' | 'FAILED'): void;
}

const StatePatch = z.strictObject({
  credits: z.int().min(0).optional(),
  queuedMs: z.int().min(0).optional(),
  processingMs: z.int().min(0).optional(),
});

export async function control(
  sim: Controlled,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  entry: RecordedExchange,
): Promise<void> {
  const path = url.pathname.slice('/__simulator'.length);
  const method = req.method ?? 'GET';
  if (path === '/faults' && method === 'POST') {
    const parsed = FaultSchema.safeParse(await readJson(req, entry));
    if (!parsed.success)
      throw new HttpFailure(400, { error: 'Invalid fault', details: zodDetails(parsed.error) });
    sim.faults.add(parsed.data);
    send(res, 201, { pending: sim.faults.remaining }, entry);
    return;
  }
  if (path === '/faults' && method === 'DELETE') {
    sim.faults.clear();
    send(res, 200, { pending: 0 }, entry);
    return;
  }
  const force = /^\/jobs\/([0-9a-f-]{36})\/(complete|fail|process)$/.exec(path);
  if (force !== null && method === 'POST' && force[1] !== undefined) {
    const status = force[2] === 'complete' ? 'COMPLETED' : force[2] === 'fail' ? 'FAILED' : 'PROCESSING';
    if (!sim.jobs.has(force[1])) throw new HttpFailure(404, { error: 'Job not found' });
    sim.forceJob(force[1], status);
    send(res, 200, { id: force[1], status }, entry);
    return;
  }
  if (path === '/state' && method === 'GET') {
    settleRefunds(sim);
    send(
      res,
      200,
      {
        credits: sim.credits,
        jobs: sim.jobs.size,
        assets: sim.assets.size,
        uploads: sim.uploads.size,
        hits: Object.fromEntries(sim.hits),
        faultsInjected: Object.fromEntries(sim.faults.injected),
      },
      entry,
    );
    return;
  }
  if (path === '/state' && method === 'PATCH') {
    const patch = StatePatch.safeParse(await readJson(req, entry));
    if (!patch.success)
      throw new HttpFailure(400, { error: 'Invalid patch', details: zodDetails(patch.error) });
    if (patch.data.credits !== undefined) sim.credits = patch.data.credits;
    if (patch.data.queuedMs !== undefined) sim.queuedMs = patch.data.queuedMs;
    if (patch.data.processingMs !== undefined) sim.processingMs = patch.data.processingMs;
    send(res, 200, { credits: sim.credits, queuedMs: sim.queuedMs, processingMs: sim.processingMs }, entry);
    return;
  }
  throw new HttpFailure(404, { error: 'Unknown simulator control' });
}
