/**
 * Saved videos as MCP resources, through the SDK's own client against the real server and the simulator: listed
 * newest first with a cursor, read as blobs, refused with the remote URL above the size cap.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { startApp } from '../src/app/app.js';
import { loadConfig } from '../src/app/config.js';
import { PLAYER_URI, RESOURCE_MAX_BYTES } from '../src/mcp/resources.js';
import { buildServer } from '../src/mcp/server.js';
import type { VideoOutput } from '../src/mcp/tools/shapes.js';
import { FAST_SERVICES, structuredOf, useHarness } from './helpers/mcp.js';
import { TEST_KEY, useSimulator } from './helpers/simulator.js';
import { useTempDirs } from './helpers/temp.js';

const tempDir = useTempDirs();

const start = useHarness();

describe('resources', () => {
  it('declares resources and links each result to its seedance:// URIs', async () => {
    const h = await start();
    expect(h.client.getServerCapabilities()?.resources).toBeDefined();
    const result = await h.call('generate_video', { prompt: 'A lighthouse in fog', return_last_frame: true });
    const out = structuredOf<VideoOutput>(result);
    const links = result.content.filter((c) => c.type === 'resource_link');
    expect(links).toEqual([
      expect.objectContaining({ uri: `seedance://jobs/${out.job_id}/video`, mimeType: 'video/mp4' }),
      expect.objectContaining({ uri: `seedance://jobs/${out.job_id}/last-frame`, mimeType: 'image/png' }),
    ]);

    const video = await h.client.readResource({ uri: `seedance://jobs/${out.job_id}/video` });
    const blob = video.contents[0] as { blob: string; mimeType: string; uri: string };
    expect(blob.mimeType).toBe('video/mp4');
    expect(Buffer.from(blob.blob, 'base64').equals(await readFile(out.video?.path ?? ''))).toBe(true);
    const frame = await h.client.readResource({ uri: `seedance://jobs/${out.job_id}/last-frame` });
    expect(
      Buffer.from((frame.contents[0] as { blob: string }).blob, 'base64').equals(
        await readFile(out.last_frame?.path ?? ''),
      ),
    ).toBe(true);

    const { resourceTemplates } = await h.client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).toEqual([
      'seedance://jobs/{job_id}/video',
      'seedance://jobs/{job_id}/last-frame',
    ]);
  });

  it('lists saved files newest first, page by page with the cursor', async () => {
    const h = await start();
    const jobs: string[] = [];
    const sizes = new Map<string, number | undefined>();
    // 51 jobs: more than one page of ledger records, so the cursor is exercised.
    for (let i = 0; i < 51; i++) {
      const out = structuredOf<VideoOutput>(await h.call('generate_video', { prompt: `Take number ${i}` }));
      jobs.push(out.job_id ?? '');
      sizes.set(`seedance://jobs/${out.job_id}/video`, out.video?.bytes);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await h.client.listResources(cursor === undefined ? {} : { cursor });
      pages++;
      // The player view comes first on the first page; the saved files after it.
      const files = page.resources.filter((r) => r.uri !== PLAYER_URI);
      seen.push(...files.map((r) => r.uri));
      for (const r of files) expect(r).toMatchObject({ mimeType: 'video/mp4', size: sizes.get(r.uri) });
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(pages).toBe(2);
    expect(seen).toEqual(jobs.reverse().map((id) => `seedance://jobs/${id}/video`));
    await expect(h.client.listResources({ cursor: 'not-a-cursor' })).rejects.toThrow(/Invalid cursor/);
  });

  it('refuses a file over the cap with its remote URL, and unknown URIs as not found', async () => {
    const h = await start();
    const out = structuredOf<VideoOutput>(await h.call('generate_video', { prompt: 'A very long take' }));
    const jobId = out.job_id ?? '';
    // A file over the cap, recorded as this job's video through the ledger itself.
    const big = Buffer.alloc(RESOURCE_MAX_BYTES + 1, 7);
    const path = join(h.dirs.output, 'big.mp4');
    await writeFile(path, big);
    await h.services.ledger.recordDownload(jobId, [
      {
        kind: 'video',
        path,
        bytes: big.length,
        sha256: createHash('sha256').update(big).digest('hex'),
        url: out.remote_url ?? '',
      },
    ]);
    const error = await h.client
      .readResource({ uri: `seedance://jobs/${jobId}/video` })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).message).toContain('over the 8.0 MB');
    expect((error as McpError).message).toContain(out.remote_url);
    expect((error as McpError).data).toMatchObject({
      remoteUrl: out.remote_url,
      maxBytes: RESOURCE_MAX_BYTES,
    });

    for (const uri of [
      `seedance://jobs/${jobId}/last-frame`,
      'seedance://jobs/00000000-0000-4000-8000-000000000000/video',
      'file:///etc/passwd',
    ]) {
      const missing = await h.client.readResource({ uri }).catch((e: unknown) => e);
      expect(missing, uri).toBeInstanceOf(McpError);
      expect((missing as McpError).code, uri).toBe(-32002);
    }
  });
});

describe('resources of members', () => {
  const env = useSimulator();

  it('lists and reads only the member own files', async () => {
    const sim = await env.start();
    const root = await tempDir('seedance-resources-members-');
    const config = loadConfig(
      { platform: process.platform, home: root, env: {} },
      { apiKey: TEST_KEY, baseUrl: sim.url, outputDir: join(root, 'out'), stateDir: join(root, 'state') },
    );
    const app = await startApp(config, FAST_SERVICES);
    const clients: Client[] = [];
    const connect = async (name: string) => {
      const server = buildServer(app, {
        transport: 'http',
        member: { name, budgetLimit: null, period: 'total' },
        allowedDirs: [],
        useClientRoots: false,
      });
      const client = new Client({ name, version: '1.0.0' });
      const [a, b] = InMemoryTransport.createLinkedPair();
      await Promise.all([server.connect(b), client.connect(a)]);
      clients.push(client);
      return client;
    };
    try {
      const ann = await connect('ann');
      const bob = await connect('bob');
      const made = await ann.callTool({ name: 'generate_video', arguments: { prompt: 'Ann only' } });
      const uri = `seedance://jobs/${(made.structuredContent as VideoOutput).job_id}/video`;
      expect((await ann.listResources()).resources.map((r) => r.uri)).toEqual([PLAYER_URI, uri]);
      expect((await ann.readResource({ uri })).contents[0]).toMatchObject({ mimeType: 'video/mp4' });
      expect((await bob.listResources()).resources.map((r) => r.uri)).toEqual([PLAYER_URI]);
      const refused = await bob.readResource({ uri }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(McpError);
      expect((refused as McpError).code).toBe(-32002);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await app.close();
    }
  });
});
