/**
 * The HTTP mode's fetch guard against real sockets: private and loopback addresses refused by literal and after DNS
 * resolution, again on a redirect, and let through for a host the operator allows.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BlockedUrlError } from '../src/core/errors.js';
import { guardedFetch, isPublicAddress } from '../src/core/guarded-fetch.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A server on 127.0.0.1 that answers `/file` with bytes (honouring a range) and redirects `/to?u=...`. */
async function loopbackServer(): Promise<number> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/to') {
      res.writeHead(302, { location: url.searchParams.get('u') ?? '/' });
      res.end();
      return;
    }
    const body = Buffer.from('0123456789');
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (range) {
      res.writeHead(206, { 'content-range': `bytes ${range[1]}-${range[2]}/10` });
      res.end(body.subarray(Number(range[1]), Number(range[2]) + 1));
      return;
    }
    res.end(body);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const guard = (hosts: string[] = []) =>
  guardedFetch({ allowHosts: new Set(hosts), allowSetting: 'SEEDANCE_FETCH_ALLOW' });

describe('guarded fetch', () => {
  it('tells public addresses from loopback, private, link-local, shared and unspecified ones', () => {
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::',
      '::1',
      '::ffff:127.0.0.1',
      '::ffff:169.254.169.254',
      'fe80::1',
      'fd00::1',
      'not an address',
    ])
      expect(isPublicAddress(address), address).toBe(false);
    for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])
      expect(isPublicAddress(address), address).toBe(true);
  });

  it('refuses the metadata address and loopback by literal, before connecting', async () => {
    await expect(guard()('http://169.254.169.254/latest/meta-data/')).rejects.toBeInstanceOf(BlockedUrlError);
    const port = await loopbackServer();
    await expect(guard()(`http://127.0.0.1:${port}/file`)).rejects.toBeInstanceOf(BlockedUrlError);
    await expect(guard()(`http://[::1]:${port}/file`)).rejects.toBeInstanceOf(BlockedUrlError);
  });

  it('refuses a host name that resolves to loopback, checked after DNS resolution', async () => {
    const port = await loopbackServer();
    const refused = await guard()(`http://localhost:${port}/file`).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BlockedUrlError);
    expect((refused as BlockedUrlError).recovery).toContain('SEEDANCE_FETCH_ALLOW');
  });

  it('checks every redirect: an allowed host cannot send the fetch on to a private one', async () => {
    const port = await loopbackServer();
    const target = encodeURIComponent(`http://127.0.0.1:${port}/file`);
    await expect(guard(['localhost'])(`http://localhost:${port}/to?u=${target}`)).rejects.toBeInstanceOf(
      BlockedUrlError,
    );
    const ok = await guard(['localhost'])(`http://localhost:${port}/to?u=${encodeURIComponent('/file')}`);
    expect(await ok.text()).toBe('0123456789');
  });

  it('fetches an allowed host like fetch does: status, headers, a ranged body', async () => {
    const port = await loopbackServer();
    const response = await guard(['127.0.0.1'])(`http://127.0.0.1:${port}/file`, {
      headers: { range: 'bytes=2-4' },
    });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe('bytes 2-4/10');
    expect(await response.text()).toBe('234');
  });
});
