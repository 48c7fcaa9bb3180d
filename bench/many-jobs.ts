/**
 * 6. Many jobs: 100 concurrent generate_video calls to one server process, against the simulator: all complete,
 * the process's peak RSS, and upstream requests per second over the run.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import {
  BIN,
  benchSimulator,
  connect,
  MB,
  memoryOf,
  POLL_ROUTES,
  productEnv,
  progress,
  type Row,
  round,
  tempDirs,
} from './lib.js';

const JOBS = 100;
const JOB_MS = 10_000;

export async function manyJobs(): Promise<Row[]> {
  const bench = await benchSimulator({ queuedMs: 500, processingMs: JOB_MS - 500 });
  const dirs = await tempDirs('many');
  const server = await connect(BIN, productEnv(dirs.root, bench.url));
  try {
    await server.client.listTools();
    const idle = await memoryOf(server.pid);
    const started = Date.now();
    const results = (await Promise.all(
      Array.from({ length: JOBS }, (_, i) =>
        server.client.callTool(
          { name: 'generate_video', arguments: { prompt: `many jobs ${i}`, duration: 4, wait_seconds: 120 } },
          undefined,
          { timeout: 180_000 },
        ),
      ),
    )) as CallToolResult[];
    const seconds = (Date.now() - started) / 1000;
    // VmHWM: the kernel's peak since the process started, which the run's peak is.
    const { peak } = await memoryOf(server.pid);
    const completed = results.filter(
      (r) =>
        r.isError !== true &&
        (r.structuredContent as { status?: string } | undefined)?.status === 'completed',
    ).length;
    const upstream = bench.requests.filter((r) => r.route !== 'file').length;
    const polls = bench.requests.filter((r) => POLL_ROUTES.has(r.route)).length;
    const peakMb = peak / MB;
    progress(
      `many jobs: ${completed}/${JOBS} completed in ${round(seconds, 1)} s, peak RSS ${round(peakMb, 0)} MB (idle ${round(idle.rss / MB, 0)} MB)`,
    );
    return [
      {
        figure: '6',
        metric: `${JOBS} concurrent generate_video: completed`,
        product: `${completed}/${JOBS}`,
        unit: 'jobs',
        target: 'all',
        met: completed === JOBS,
      },
      {
        figure: '6',
        metric: `peak RSS of the server process (idle: ${round(idle.rss / MB, 0)} MB)`,
        product: round(peakMb, 0),
        unit: 'MB',
        target: '< 200 MB',
        met: peakMb < 200,
      },
      {
        figure: '6',
        metric: `upstream requests/s over the run (${round(seconds, 1)} s; downloads excluded)`,
        product: round(upstream / seconds, 1),
        unit: 'req/s',
        target: '',
        met: undefined,
      },
      {
        figure: '6',
        metric: 'of which polls (GET /v2/jobs and /v2/jobs/{id}) per job',
        product: round(polls / JOBS, 1),
        unit: 'requests',
        target: '',
        met: undefined,
      },
    ];
  } finally {
    await server.close();
    await bench.close();
    await dirs.close();
  }
}
