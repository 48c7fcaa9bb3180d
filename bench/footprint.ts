/**
 * 2. Tool footprint: the bytes of the tools/list answer as it crosses stdio (the JSON-RPC line the built binary
 * writes), and an estimate of its tokens, beside the minimal server's one-tool answer.
 */
import { spawn } from 'node:child_process';
import { BIN, FLOOR, productEnv, type Row, round, tempDirs } from './lib.js';

/** The raw JSON-RPC line a server writes in answer to tools/list. */
async function toolsListLine(script: string, env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, [script], { env, stdio: ['pipe', 'pipe', 'ignore'] });
  const lines: string[] = [];
  let buffered = '';
  const answer = new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      let at = buffered.indexOf('\n');
      while (at !== -1) {
        const line = buffered.slice(0, at);
        buffered = buffered.slice(at + 1);
        lines.push(line);
        if ((JSON.parse(line) as { id?: number }).id === 2) resolve(line);
        at = buffered.indexOf('\n');
      }
    });
    child.once('exit', () => reject(new Error(`${script} exited before answering tools/list`)));
  });
  const send = (message: unknown) => child.stdin.write(`${JSON.stringify(message)}\n`);
  send({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
  });
  send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
  try {
    return await answer;
  } finally {
    child.stdin.end();
    child.kill();
  }
}

/**
 * Tokens, estimated: about 4 bytes a token is the usual rule for English; JSON's quotes, braces and short keys
 * tokenise worse, so 3.5 bytes a token is used. An estimate, not any one model's tokenizer.
 */
export const BYTES_PER_TOKEN = 3.5;

export async function footprint(simUrl: string): Promise<Row[]> {
  const dirs = await tempDirs('footprint');
  try {
    const product = await toolsListLine(BIN, productEnv(dirs.root, simUrl));
    const floor = await toolsListLine(FLOOR, { PATH: process.env.PATH ?? '', HOME: dirs.root });
    const bytes = Buffer.byteLength(product);
    const floorBytes = Buffer.byteLength(floor);
    const tools = (JSON.parse(product) as { result: { tools: unknown[] } }).result.tools.length;
    return [
      {
        figure: '2',
        metric: `tools/list answer, ${tools} tools (floor: 1 tool)`,
        product: bytes,
        floor: floorBytes,
        ratio: round(bytes / floorBytes),
        unit: 'bytes',
        target: '<= 8192 bytes',
        met: bytes <= 8192,
      },
      {
        figure: '2',
        metric: `tools/list answer, estimated tokens (${BYTES_PER_TOKEN} bytes/token)`,
        product: Math.round(bytes / BYTES_PER_TOKEN),
        floor: Math.round(floorBytes / BYTES_PER_TOKEN),
        ratio: round(bytes / floorBytes),
        unit: 'tokens',
        target: '',
        met: undefined,
      },
    ];
  } finally {
    await dirs.close();
  }
}
