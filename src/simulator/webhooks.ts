/**
 * Webhooks as Apiframe sends them: for a job submitted with `webhookUrl`, a POST at each change its `webhookEvents`
 * name (`progress` when it starts processing, `completed` or `failed` at the end), JSON `{event, jobId, status,
 * progress, result|error, model, creditCost, completedAt}` with `X-Webhook-Event` and `X-Webhook-Signature: sha256=`
 * + hex HMAC-SHA256 of the raw body, keyed with the raw SHA-256 digest of the API key. One attempt each, no retry
 * (Apiframe's retry policy is undocumented); with `webhooks: 'never'` nothing is sent, as when deliveries are lost.
 */
import { createHash, createHmac } from 'node:crypto';
import { log } from '../core/log.js';
import { jobStatus } from './clock.js';
import type { SimJob, SimState } from './state.js';

export interface WebhookDelivery {
  jobId: string;
  event: string;
  status: number | 'error';
}

export function webhookSignature(apiKey: string, body: string): string {
  const key = createHash('sha256').update(apiKey).digest();
  return `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;
}

export class WebhookSender {
  readonly deliveries: WebhookDelivery[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly state: SimState,
    private readonly jobJson: (job: SimJob) => Record<string, unknown>,
  ) {}

  /** Plans the events of a job just submitted. */
  schedule(job: SimJob): void {
    if (job.input.webhookUrl === undefined || this.state.options.webhooks === 'never') return;
    this.at(job.queuedMs, job, 'progress');
    this.at(job.queuedMs + job.processingMs, job, job.willFail ? 'failed' : 'completed');
  }

  /** A job forced to a state by a test: its event goes out now. */
  forced(job: SimJob): void {
    if (job.input.webhookUrl === undefined || this.state.options.webhooks === 'never') return;
    const { status } = jobStatus(job, this.state.now());
    this.at(0, job, status === 'COMPLETED' ? 'completed' : status === 'FAILED' ? 'failed' : 'progress');
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private at(delayMs: number, job: SimJob, event: 'progress' | 'completed' | 'failed'): void {
    const wanted = job.input.webhookEvents ?? ['completed', 'failed'];
    if (!wanted.includes(event)) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.send(job, event);
    }, delayMs);
    timer.unref();
    this.timers.add(timer);
  }

  private async send(job: SimJob, event: string): Promise<void> {
    const url = job.input.webhookUrl;
    if (url === undefined) return;
    const current = this.jobJson(job);
    const payload: Record<string, unknown> = {
      event,
      jobId: job.id,
      status: current.status,
      progress: current.progress,
      model: current.model,
      creditCost: current.creditCost,
      completedAt: current.completedAt,
      ...(current.status === 'FAILED' ? { error: current.error } : { result: current.result }),
    };
    const body = JSON.stringify(payload);
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-webhook-event': event,
          'x-webhook-signature': webhookSignature(job.apiKey, body),
        },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      await response.body?.cancel();
      this.deliveries.push({ jobId: job.id, event, status: response.status });
    } catch (error) {
      this.deliveries.push({ jobId: job.id, event, status: 'error' });
      log.debug('simulated webhook not delivered', { jobId: job.id, event, error: String(error) });
    }
  }
}
