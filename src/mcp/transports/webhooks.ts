/**
 * Apiframe's webhooks, received at `/webhooks/apiframe` (under SEEDANCE_PUBLIC_URL). A webhook is only a hint that a
 * job changed: its signature (`X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body>`, keyed with the raw
 * SHA-256 digest of the API key; the digest's hex form and a bare hex signature are accepted too, as Apiframe's SDK
 * does) is checked, a body seen before is refused as a replay, a job the ledger does not know is refused, and
 * otherwise the job is polled at once: one GET /v2/jobs/{id} decides, never the webhook's own fields.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as z from 'zod';
import type { Webhooks } from '../../app/services.js';
import { log } from '../../core/log.js';
import type { JobService } from '../../jobs/service.js';
import { readBody } from './body.js';

const MAX_WEBHOOK_BYTES = 256 * 1024;
/** Signatures and (job, status) pairs remembered, newest kept. */
const REMEMBERED = 10_000;

const WebhookBody = z.looseObject({
  event: z.string().max(64),
  jobId: z.uuid(),
  status: z.string().max(32),
});

/** A set that forgets its oldest entries past `max`. */
function boundedSet(max: number) {
  const entries = new Set<string>();
  return {
    has: (key: string) => entries.has(key),
    add(key: string) {
      entries.add(key);
      if (entries.size > max) entries.delete(entries.values().next().value as string);
    },
  };
}

function answer(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function webhookReceiver(webhooks: Webhooks, jobs: Pick<JobService, 'hint'>) {
  const keys = [webhooks.key, Buffer.from(webhooks.key.toString('hex'))];
  const seenBodies = boundedSet(REMEMBERED);
  const seenStates = boundedSet(REMEMBERED);

  const signed = (body: Buffer, header: string): boolean => {
    const hex = header.trim().replace(/^sha256=/i, '');
    if (!/^[0-9a-f]{64}$/i.test(hex)) return false;
    const given = Buffer.from(hex, 'hex');
    let match = false;
    for (const key of keys)
      match = timingSafeEqual(given, createHmac('sha256', key).update(body).digest()) || match;
    return match;
  };

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'POST') return answer(res, 405, { error: 'POST only' });
    const body = await readBody(req, MAX_WEBHOOK_BYTES);
    if (body === undefined) return answer(res, 413, { error: 'body too large' });
    const signature = req.headers['x-webhook-signature'];
    if (typeof signature !== 'string' || !signed(body, signature)) {
      log.warn('webhook refused: bad signature', {
        signed: typeof signature === 'string',
        from: req.socket.remoteAddress,
      });
      return answer(res, 401, { error: 'missing or invalid X-Webhook-Signature' });
    }
    // The signature carries no timestamp: a body seen before is a replay, whoever sends it.
    const digest = createHash('sha256').update(body).digest('hex');
    if (seenBodies.has(digest)) return answer(res, 409, { error: 'replayed webhook' });
    seenBodies.add(digest);
    let parsed: z.output<typeof WebhookBody>;
    try {
      parsed = WebhookBody.parse(JSON.parse(body.toString('utf8')));
    } catch {
      return answer(res, 400, { error: 'not a webhook body' });
    }
    const state = `${parsed.jobId}\u0000${parsed.status}`;
    if (seenStates.has(state)) return answer(res, 200, { ignored: 'this status of this job was seen' });
    const outcome = await jobs.hint(parsed.jobId);
    if (outcome === 'unknown') {
      log.warn('webhook for a job this server does not know', { jobId: parsed.jobId });
      return answer(res, 404, { error: 'unknown job' });
    }
    seenStates.add(state);
    log.debug('webhook: job polled now', { jobId: parsed.jobId, event: parsed.event });
    return answer(res, 202, { accepted: true });
  };
}
