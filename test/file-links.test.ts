/** Signed /files/ links on a real HTTP server over a real folder: signature, expiry, names, ranges. */
import { symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type FileLinks, fileLinks } from '../src/mcp/transports/files.js';
import { useTempDirs } from './helpers/temp.js';

const tempDir = useTempDirs();

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function serve(now: () => number) {
  const dir = await tempDir('seedance-files-');
  await writeFile(join(dir, 'clip.mp4'), Buffer.from('0123456789'));
  const outside = join(await tempDir('seedance-outside-'), 'secret.txt');
  await writeFile(outside, 'secret');
  await symlink(outside, join(dir, 'link.mp4'));
  let base = '';
  const links: FileLinks = fileLinks({ outputDir: dir, key: Buffer.alloc(32, 7), base: () => base, now });
  const server = createServer((req, res) => void links.serve(req, res));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return { dir, links, base };
}

describe('signed file links', () => {
  it('serve a file of the output folder whole, by range and by suffix, and refuse an unsatisfiable range', async () => {
    const { dir, links } = await serve(Date.now);
    const link = links.link(join(dir, 'clip.mp4')) ?? '';
    const whole = await fetch(link);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-type')).toBe('video/mp4');
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(await whole.text()).toBe('0123456789');
    const middle = await fetch(link, { headers: { range: 'bytes=3-5' } });
    expect(middle.status).toBe(206);
    expect(middle.headers.get('content-range')).toBe('bytes 3-5/10');
    expect(await middle.text()).toBe('345');
    expect(await (await fetch(link, { headers: { range: 'bytes=-2' } })).text()).toBe('89');
    const beyond = await fetch(link, { headers: { range: 'bytes=20-' } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe('bytes */10');
  });

  it('refuse a tampered signature, another name under the same signature, and an expired link', async () => {
    let clock = Date.now();
    const { dir, links, base } = await serve(() => clock);
    const link = new URL(links.link(join(dir, 'clip.mp4')) ?? '');
    const tampered = new URL(link);
    tampered.searchParams.set('sig', `A${link.searchParams.get('sig')?.slice(1)}`);
    expect((await fetch(tampered)).status).toBe(403);
    const renamed = new URL(`${base}files/..%2F..%2Fetc%2Fpasswd${link.search}`);
    expect((await fetch(renamed)).status).toBe(403);
    const longer = new URL(link);
    longer.searchParams.set('exp', String(Number(link.searchParams.get('exp')) + 3600));
    expect((await fetch(longer)).status).toBe(403);
    clock += 25 * 60 * 60 * 1000;
    expect((await fetch(link)).status).toBe(410);
  });

  it('link only plain files directly in the output folder, and never follow a symlink out of it', async () => {
    const { dir, links } = await serve(Date.now);
    expect(links.link('/etc/passwd')).toBeUndefined();
    expect(links.link(join(dir, '.hidden.mp4'))).toBeUndefined();
    expect(links.link(join(dir, 'sub', 'clip.mp4'))).toBeUndefined();
    const viaSymlink = await fetch(links.link(join(dir, 'link.mp4')) ?? '');
    expect(viaSymlink.status).toBe(404);
  });
});
