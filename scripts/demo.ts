/**
 * `npm run demo`: a real MCP client session over stdio with the built server in --simulate mode. Lists the tools,
 * estimates a plan, uploads the bundled sample image, generates a video that starts from it (printing progress as
 * it arrives), and prints the structured results and where the MP4 is.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const sampleImage = join(root, 'assets', 'sample-start.png');
const out = (line = '') => process.stdout.write(`${line}\n`);

function structured(result: CallToolResult): Record<string, unknown> {
  if (result.isError) {
    const text = result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
    throw new Error(`tool failed: ${text}`);
  }
  return result.structuredContent ?? {};
}

const transport = new StdioClientTransport({
  command: process.execPath,
  args: [join(root, 'dist', 'cli.js'), '--simulate'],
  env: {
    ...process.env,
    // The sample image lives in this checkout, which may be outside the home folder (the default allowed folder).
    SEEDANCE_ALLOWED_DIRS: [join(root, 'assets'), process.env.HOME ?? root].join(
      process.platform === 'win32' ? ';' : ':',
    ),
    SEEDANCE_BUDGET_CREDITS: process.env.SEEDANCE_BUDGET_CREDITS ?? '200',
    // --simulate keeps its jobs across restarts: each demo gets a fresh world (and budget), unless told otherwise.
    SEEDANCE_STATE_DIR:
      process.env.SEEDANCE_STATE_DIR ?? (await mkdtemp(join(tmpdir(), 'seedance-demo-state-'))),
    SEEDANCE_LOG_LEVEL: process.env.SEEDANCE_LOG_LEVEL ?? 'warn',
  } as Record<string, string>,
  stderr: 'inherit',
});
const client = new Client({ name: 'seedance-mcp-demo', version: '1.0.0' });
await client.connect(transport);

try {
  const { tools } = await client.listTools();
  out(
    `Connected to ${client.getServerVersion()?.name} ${client.getServerVersion()?.version} over stdio (simulated Apiframe).`,
  );
  out(`Tools: ${tools.map((t) => t.name).join(', ')}`);
  out();

  const plan = {
    videos: [
      { duration: 5, resolution: '720p' },
      { duration: 10, resolution: '1080p', count: 2 },
    ],
  };
  out(`estimate_cost ${JSON.stringify(plan)}`);
  const estimate = structured(
    (await client.callTool({ name: 'estimate_cost', arguments: plan })) as CallToolResult,
  );
  out(JSON.stringify(estimate, null, 2));
  out();

  out(`upload_asset ${sampleImage}`);
  const asset = structured(
    (await client.callTool({ name: 'upload_asset', arguments: { source: sampleImage } })) as CallToolResult,
  );
  out(JSON.stringify(asset, null, 2));
  out();

  const args = {
    prompt: 'Colour bars dissolve into a sunrise over a calm sea, slow push in, warm light',
    start_image: asset.asset_uri,
    duration: 5,
    return_last_frame: true,
    wait_seconds: 120,
  };
  out(`generate_video ${JSON.stringify(args)}`);
  const result = (await client.callTool({ name: 'generate_video', arguments: args }, undefined, {
    onprogress: (p) => out(`  progress ${p.progress.toFixed(1).padStart(5)}%  ${p.message ?? ''}`),
    timeout: 300_000,
  })) as CallToolResult;
  const video = structured(result) as {
    status: string;
    video: { path: string; bytes: number } | null;
    cost: { charged_credits: number | null; estimated_credits: number };
    budget: { spent: number; remaining: number; limit: number } | null;
  };
  out(JSON.stringify(video, null, 2));
  out();
  const text = result.content.find((c) => c.type === 'text');
  if (text?.type === 'text') out(text.text);
  if (video.status !== 'completed' || video.video === null)
    throw new Error('the demo video did not complete');
  out(`MP4: ${video.video.path} (${video.video.bytes} bytes)`);
  out(
    `Cost: ${video.cost.charged_credits ?? video.cost.estimated_credits} credits (simulated)` +
      (video.budget === null
        ? ''
        : `; budget ${video.budget.spent}/${video.budget.limit} spent, ${video.budget.remaining} left`),
  );
} finally {
  await client.close();
}
