/**
 * 3. Call overhead: estimate_cost round trips over stdio against an echo tool on the minimal SDK server, the two
 * servers running side by side and called in turn, so that both see the same machine.
 */
import type { Connected } from './lib.js';
import { BIN, connect, FLOOR, percentile, productEnv, progress, type Row, round, tempDirs } from './lib.js';

const WARMUP = 50;
const CALLS = 500;

async function time(server: Connected, name: string, args: Record<string, unknown>): Promise<number> {
  const started = performance.now();
  const result = await server.client.callTool({ name, arguments: args });
  const elapsed = performance.now() - started;
  if (result.isError === true) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
  return elapsed;
}

export async function callOverhead(simUrl: string): Promise<Row[]> {
  const dirs = await tempDirs('calls');
  const product = await connect(BIN, productEnv(dirs.root, simUrl));
  // With a budget, every estimate also reads the shared ledger (other processes may have spent since).
  const budgeted = await connect(
    BIN,
    productEnv(`${dirs.root}/budgeted`, simUrl, { SEEDANCE_BUDGET_CREDITS: '100000' }),
  );
  const floor = await connect(FLOOR, { PATH: process.env.PATH ?? '', HOME: dirs.root });
  try {
    // Tool lists first, as clients do: the SDK client then validates every result against its output schema.
    await product.client.listTools();
    await budgeted.client.listTools();
    await floor.client.listTools();
    const estimate = { duration: 5, resolution: '1080p' };
    const echo = { text: 'seedance' };
    for (let i = 0; i < WARMUP; i++) {
      await time(product, 'estimate_cost', estimate);
      await time(budgeted, 'estimate_cost', estimate);
      await time(floor, 'echo', echo);
    }
    const p: number[] = [];
    const f: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      if (i % 2 === 0) {
        p.push(await time(product, 'estimate_cost', estimate));
        f.push(await time(floor, 'echo', echo));
        b.push(await time(budgeted, 'estimate_cost', estimate));
      } else {
        b.push(await time(budgeted, 'estimate_cost', estimate));
        f.push(await time(floor, 'echo', echo));
        p.push(await time(product, 'estimate_cost', estimate));
      }
    }
    const b50 = percentile(b, 50);
    const perSecond = (xs: number[]) => 1000 / (xs.reduce((a, b) => a + b, 0) / xs.length);
    const [p50, f50] = [percentile(p, 50), percentile(f, 50)];
    const [p99, f99] = [percentile(p, 99), percentile(f, 99)];
    const [pRate, fRate] = [perSecond(p), perSecond(f)];
    progress(`calls: estimate_cost p50 ${round(p50, 3)} ms, echo p50 ${round(f50, 3)} ms`);
    return [
      {
        figure: '3',
        metric: `estimate_cost round trip p50 (${CALLS} calls)`,
        product: round(p50, 3),
        floor: round(f50, 3),
        ratio: round(p50 / f50),
        unit: 'ms',
        target: '<= 1.5x floor',
        met: p50 / f50 <= 1.5,
      },
      {
        figure: '3',
        metric: 'same, p50, with SEEDANCE_BUDGET_CREDITS set (reads the ledger)',
        product: round(b50, 3),
        floor: round(f50, 3),
        ratio: round(b50 / f50),
        unit: 'ms',
        target: '',
        met: undefined,
      },
      {
        figure: '3',
        metric: 'estimate_cost round trip p99',
        product: round(p99, 3),
        floor: round(f99, 3),
        ratio: round(p99 / f99),
        unit: 'ms',
        target: '',
        met: undefined,
      },
      {
        figure: '3',
        metric: 'calls per second (one at a time)',
        product: round(pRate, 0),
        floor: round(fRate, 0),
        ratio: round(pRate / fRate),
        unit: 'calls/s',
        target: '',
        met: undefined,
      },
    ];
  } finally {
    await product.close();
    await budgeted.close();
    await floor.close();
    await dirs.close();
  }
}
