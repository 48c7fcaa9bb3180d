/**
 * 1. Cold start: spawn, initialize and answer tools/list over stdio, the product's bundle beside the minimal SDK
 * server, alternated run by run so that both see the same machine.
 */
import { BIN, connect, FLOOR, median, productEnv, progress, type Row, round, tempDirs } from './lib.js';

const RUNS = 21;

async function once(script: string, env: Record<string, string>): Promise<number> {
  const started = performance.now();
  const server = await connect(script, env);
  await server.client.listTools();
  const elapsed = performance.now() - started;
  await server.close();
  return elapsed;
}

export async function coldStart(simUrl: string): Promise<Row[]> {
  const dirs = await tempDirs('cold');
  try {
    const env = productEnv(dirs.root, simUrl);
    const floorEnv = { PATH: process.env.PATH ?? '', HOME: dirs.root };
    // One unmeasured run of each warms the file cache.
    await once(BIN, env);
    await once(FLOOR, floorEnv);
    const product: number[] = [];
    const floor: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      if (i % 2 === 0) {
        product.push(await once(BIN, env));
        floor.push(await once(FLOOR, floorEnv));
      } else {
        floor.push(await once(FLOOR, floorEnv));
        product.push(await once(BIN, env));
      }
    }
    const p = median(product);
    const f = median(floor);
    progress(`cold start: product ${round(p, 1)} ms, floor ${round(f, 1)} ms (medians of ${RUNS})`);
    return [
      {
        figure: '1',
        metric: `cold start to tools/list (median of ${RUNS})`,
        product: round(p, 1),
        floor: round(f, 1),
        ratio: round(p / f),
        unit: 'ms',
        target: '<= 1.0x floor',
        met: p / f <= 1.0,
      },
    ];
  } finally {
    await dirs.close();
  }
}
