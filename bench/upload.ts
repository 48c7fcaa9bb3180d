/**
 * 5. Upload memory and speed: upload_asset of a 50 MB video to the simulator, beside `curl -F` of the same file to
 * the same server, alternated round by round. Each round changes a byte of the file, so that the product uploads it
 * again instead of reusing the asset of the round before.
 *
 * The server's first tool call, whichever tool it is (estimate_cost here), costs a fresh process a one-time rise of
 * 20 to 40 MB, most of it native memory in the 100 ms after the answer, with no garbage collection running, and
 * returned soon after. It is start-up cost, not the upload's: it is measured and reported on its own, before the
 * uploads, so that it does not land in their measuring window by luck.
 */
import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  BENCH_KEY,
  BIN,
  benchSimulator,
  connect,
  MB,
  median,
  memoryOf,
  productEnv,
  progress,
  type Row,
  resetPeak,
  round,
  sampleRss,
  sleep,
  tempDirs,
} from './lib.js';

const run = promisify(execFile);
const ROUNDS = 5;
/** 50 MB, as the issue says (decimal): inside Apiframe's 50 MiB limit for videos. */
const SIZE = 50_000_000;

/** An MP4 as the sniffer sees one (ftyp box first), padded to SIZE. */
async function writeVideo(path: string): Promise<void> {
  const file = await open(path, 'w');
  try {
    const head = Buffer.alloc(32);
    head.writeUInt32BE(32, 0);
    head.write('ftypisom', 4, 'latin1');
    head.writeUInt32BE(0x200, 12);
    head.write('isomiso2mp41', 16, 'latin1');
    await file.write(head, 0, head.length, 0);
    const chunk = Buffer.alloc(4 * MB, 0x5a);
    for (let at = head.length; at < SIZE; at += chunk.length) {
      await file.write(chunk, 0, Math.min(chunk.length, SIZE - at), at);
    }
  } finally {
    await file.close();
  }
}

async function stamp(path: string, round: number): Promise<void> {
  const file = await open(path, 'r+');
  try {
    await file.write(Buffer.from(`round ${round} `), 0, undefined, 64);
  } finally {
    await file.close();
  }
}

export async function upload(): Promise<Row[]> {
  const bench = await benchSimulator({ assetProcessingMs: 0 });
  const dirs = await tempDirs('upload');
  const path = join(dirs.root, 'clip.mp4');
  await writeVideo(path);
  const server = await connect(BIN, productEnv(dirs.root, bench.url));
  try {
    const productSeconds: number[] = [];
    const curlSeconds: number[] = [];
    const growth: number[] = [];
    await resetPeak(server.pid);
    const fresh = await memoryOf(server.pid);
    await server.client.callTool({ name: 'estimate_cost', arguments: {} });
    await sleep(300);
    const first = Math.max(0, (await memoryOf(server.pid)).peak - fresh.rss);
    for (let i = 0; i < ROUNDS; i++) {
      await stamp(path, i);
      // The kernel's own peak when it can be reset; otherwise sampling, which costs this process (and so the
      // simulator in it) CPU during the product's rounds only.
      const exact = await resetPeak(server.pid);
      const before = await memoryOf(server.pid);
      const sampler = exact ? undefined : sampleRss(server.pid, 5);
      let started = performance.now();
      const result = await server.client.callTool(
        { name: 'upload_asset', arguments: { source: path } },
        undefined,
        { timeout: 120_000 },
      );
      const seconds = (performance.now() - started) / 1000;
      const sampled = (await sampler?.stop()) ?? 0;
      const after = await memoryOf(server.pid);
      if (result.isError === true) throw new Error(`upload_asset failed: ${JSON.stringify(result.content)}`);
      const structured = result.structuredContent as { reused: boolean; bytes: number };
      if (structured.reused || structured.bytes !== SIZE)
        throw new Error('upload_asset did not upload the file');
      const peak = exact ? after.peak : Math.max(sampled, after.peak > before.peak ? after.peak : 0);
      productSeconds.push(seconds);
      growth.push(Math.max(0, peak - before.rss));
      started = performance.now();
      const { stdout } = await run('curl', [
        '-sS',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '-H',
        `x-api-key: ${BENCH_KEY}`,
        '-F',
        `file=@${path};type=video/mp4`,
        `${bench.url}/v2/uploads`,
      ]);
      curlSeconds.push((performance.now() - started) / 1000);
      if (stdout.trim() !== '201') throw new Error(`curl upload answered ${stdout}`);
    }
    const rate = (seconds: number) => SIZE / 1e6 / seconds;
    const [product, curl] = [rate(median(productSeconds)), rate(median(curlSeconds))];
    const worstGrowth = Math.max(...growth) / MB;
    progress(
      `upload: ${round(product, 0)} MB/s, curl ${round(curl, 0)} MB/s, RSS growth ${round(worstGrowth, 1)} MB`,
    );
    return [
      {
        figure: '5',
        metric: `upload_asset of a 50 MB video: peak RSS growth (worst of ${ROUNDS})`,
        product: round(worstGrowth, 1),
        unit: 'MB',
        target: '< 30 MB',
        met: worstGrowth < 30,
      },
      {
        figure: '5',
        metric: "a fresh process's first tool call (estimate_cost), once, before the uploads",
        product: round(first / MB, 1),
        unit: 'MB',
        target: '',
        met: undefined,
      },
      {
        figure: '5',
        metric: `upload throughput vs curl -F (median of ${ROUNDS})`,
        product: round(product, 0),
        floor: round(curl, 0),
        ratio: round(product / curl),
        unit: 'MB/s',
        target: '>= 0.8x curl',
        met: product / curl >= 0.8,
      },
    ];
  } finally {
    await server.close();
    await bench.close();
    await dirs.close();
  }
}
