// The built binary on a Node too old for node:sqlite: one line naming the version needed, not a stack trace.
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, readFileSync, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = new URL('../dist/cli.js', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
  engines: { node: string };
};
const REQUIRED = pkg.engines.node.replace('>=', '');

function older(version: string, than: string): boolean {
  const a = version.split('.').map(Number);
  const b = than.split('.').map(Number);
  for (let i = 0; i < b.length; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  }
  return false;
}

/** Every Node on PATH older than the one required: npm scripts put the project's own Node first, the machine's after. */
function olderNodesOnPath(): { bin: string; version: string }[] {
  const seen = new Map<string, string>();
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'node');
    try {
      accessSync(candidate, constants.X_OK);
      const real = realpathSync(candidate);
      if (seen.has(real)) continue;
      seen.set(real, execFileSync(real, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim());
    } catch {
      // not there, or not a Node that runs
    }
  }
  return [...seen]
    .filter(([, version]) => older(version, REQUIRED))
    .map(([bin, version]) => ({ bin, version }));
}

function run(
  command: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function expectOneLine(
  result: { code: number | null; stdout: string; stderr: string },
  version: string,
): void {
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(`needs Node.js ${REQUIRED} or later`);
  expect(lines[0]).toContain(`this is Node.js ${version}`);
}

describe('the built binary on an older Node', () => {
  it('names the version needed in one line: a Node reporting an older version, and each older Node on PATH', async () => {
    // Any machine: the preload makes this Node report 22.12, so the launcher meets what a real Node 22.12 shows it.
    const preload = `data:text/javascript,Object.defineProperty(process,'versions',{value:{...process.versions,node:'22.12.0'}})`;
    expectOneLine(await run(process.execPath, ['--import', preload, BIN, '--version']), '22.12.0');
    // And the real thing where there is one: a fresh CI machine's own Node is 20 (npm scripts run the project's
    // Node 24, found first on PATH), which cannot even link the server's bundle.
    for (const { bin, version } of olderNodesOnPath()) {
      expectOneLine(await run(bin, [BIN]), version);
    }
  });

  it('starts on this Node, with nothing but the answer on stdout', async () => {
    const result = await run(process.execPath, [BIN, '--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${pkg.version}\n`);
  });
});
