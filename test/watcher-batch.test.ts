/**
 * Many jobs at once: one job list request serves every watched job instead of a GET each, and whatever the list
 * cannot settle (an ended job, a failed list) still gets its own GET, so nothing is missed.
 */
import { describe, expect, it } from 'vitest';
import type { Job } from '../src/apiframe/schemas.js';
import { JobFeed } from '../src/jobs/feed/feed.js';
import { clientFor, TEST_KEY, useSimulator } from './helpers/simulator.js';

const SCHEDULE = { firstMs: 10, factor: 1.5, capMs: 40, batchFrom: 3 };

async function submit(url: string, prompt: string): Promise<string> {
  const response = await fetch(`${url}/v2/videos/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': TEST_KEY },
    body: JSON.stringify({ model: 'seedance-2', prompt }),
  });
  return ((await response.json()) as { jobId: string }).jobId;
}

/** Watches the jobs until each ends; returns the last update each listener saw, and every update seen. */
function watchAll(feed: JobFeed, ids: string[]) {
  const updates: Job[] = [];
  return {
    updates,
    done: Promise.all(
      ids.map(
        (id) =>
          new Promise<Job>((resolve, reject) => {
            const stop = feed.watch(id, {
              update(job) {
                updates.push(job);
                if (job.status === 'COMPLETED' || job.status === 'FAILED') {
                  queueMicrotask(stop);
                  resolve(job);
                }
              },
              error: reject,
            });
          }),
      ),
    ),
  };
}

describe('JobFeed with many jobs in flight', () => {
  const env = useSimulator({ queuedMs: 50, processingMs: 400, assetProcessingMs: 0 });

  it('polls them together through GET /v2/jobs, and gets each final state from the job itself', async () => {
    const sim = await env.start();
    const ids = await Promise.all(
      Array.from({ length: 8 }, (_, i) => submit(sim.url, i === 3 ? 'simulate-failure now' : `job ${i}`)),
    );
    const seen: string[] = [];
    const feed = new JobFeed(clientFor(sim), SCHEDULE, async (job) => {
      seen.push(`${job.id}:${job.status}`);
    });
    const { done, updates } = watchAll(feed, ids);
    const finals = await done;
    expect(finals.map((j) => j.status)).toEqual(ids.map((_, i) => (i === 3 ? 'FAILED' : 'COMPLETED')));
    // The final state came from GET /v2/jobs/{id}: it carries the input (the list does not) and the result.
    for (const job of finals) {
      expect(job.prompt).not.toBeNull();
      if (job.status === 'COMPLETED') expect(job.result?.videoUrl).toMatch(/\/files\//);
    }
    expect(feed.listPolls).toBeGreaterThan(0);
    const lists = sim.hits.get('jobs') ?? 0;
    const gets = sim.hits.get('job') ?? 0;
    // One GET to start and one to finish each job; everything in between came from the shared list.
    expect(gets).toBeLessThanOrEqual(2 * ids.length);
    expect(lists).toBe(feed.listPolls);
    expect(updates.some((u) => u.status === 'PROCESSING')).toBe(true);
    expect(seen.filter((s) => s.endsWith(':COMPLETED'))).toHaveLength(7);
    expect(feed.watching).toBe(0);
    feed.close();
  });

  it('below batchFrom, each job keeps its own GET and the list is never asked', async () => {
    const sim = await env.start();
    const ids = await Promise.all([submit(sim.url, 'a'), submit(sim.url, 'b')]);
    const feed = new JobFeed(clientFor(sim), SCHEDULE, async () => {});
    const finals = await watchAll(feed, ids).done;
    expect(finals.map((j) => j.status)).toEqual(['COMPLETED', 'COMPLETED']);
    expect(sim.hits.get('jobs') ?? 0).toBe(0);
    feed.close();
  });

  it('when the list fails, every job asks for itself and still finishes', async () => {
    const sim = await env.start();
    sim.addFault({ route: 'jobs', kind: 'server_error', times: 1_000 });
    const ids = await Promise.all(Array.from({ length: 4 }, (_, i) => submit(sim.url, `job ${i}`)));
    const feed = new JobFeed(clientFor(sim, { maxRetries: 0 }), SCHEDULE, async () => {});
    const finals = await watchAll(feed, ids).done;
    expect(finals.map((j) => j.status)).toEqual(ids.map(() => 'COMPLETED'));
    expect(sim.hits.get('jobs') ?? 0).toBeGreaterThan(0);
    feed.close();
  });

  it('a job the list does not show (too far back, say) is polled on its own', async () => {
    const sim = await env.start();
    const ids = await Promise.all(Array.from({ length: 4 }, (_, i) => submit(sim.url, `job ${i}`)));
    const hidden = ids[0] ?? '';
    const client = clientFor(sim);
    const list = client.listJobs.bind(client);
    client.listJobs = async (...args) => {
      const page = await list(...args);
      return { ...page, jobs: page.jobs.filter((job) => job.id !== hidden) };
    };
    const feed = new JobFeed(client, SCHEDULE, async () => {});
    const finals = await watchAll(feed, ids).done;
    expect(finals.map((j) => j.status)).toEqual(ids.map(() => 'COMPLETED'));
    const getsOf = (id: string) => sim.exchangesFor('job').filter((e) => e.path.endsWith(id)).length;
    expect(getsOf(hidden)).toBeGreaterThan(2);
    expect(Math.max(...ids.slice(1).map(getsOf))).toBeLessThanOrEqual(2);
    feed.close();
  });
});
