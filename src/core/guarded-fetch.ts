/**
 * GET requests that cannot be turned against the server's own network (server-side request forgery). Used in HTTP
 * mode, where the URLs come from remote members: a URL whose host resolves to a loopback, private, link-local (the
 * cloud metadata address among them), shared, multicast or unspecified address is refused. The check runs on the
 * addresses the connection is actually made to (node:http's `lookup` hook, so a DNS answer cannot change between
 * check and connect) and again on every redirect. Hosts the operator lists are let through.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import { BlockedUrlError } from './errors.js';

/** The subset of fetch the media code uses: GET with headers and a signal. */
export type Fetcher = (
  url: string | URL,
  init?: { headers?: Record<string, string>; signal?: AbortSignal },
) => Promise<Response>;

const NOT_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  NOT_PUBLIC.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  NOT_PUBLIC.addSubnet(net, prefix, 'ipv6');

/** Whether an IP address is one the public internet routes to (IPv4-mapped IPv6 judged by its IPv4 address). */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return !NOT_PUBLIC.check(mapped, 'ipv4');
  return !NOT_PUBLIC.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export interface FetchGuard {
  /** Host names (lower case) fetched whatever they resolve to. */
  allowHosts: ReadonlySet<string>;
  /** The setting that lists them, named in refusals. */
  allowSetting: string;
  maxRedirects?: number;
}

function bareHost(hostname: string): string {
  return hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

/** A fetch that refuses non-public addresses, for GETs of media and results. */
export function guardedFetch(guard: FetchGuard): Fetcher {
  const maxRedirects = guard.maxRedirects ?? 5;

  const checkedLookup =
    (host: string): LookupFunction =>
    (hostname, options, callback) => {
      dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
        if (error) return callback(error, '', 4);
        if (addresses.length === 0 || addresses.some((a) => !isPublicAddress(a.address)))
          return callback(new BlockedUrlError(host, guard.allowSetting), '', 4);
        if (options.all)
          return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
        const first = addresses[0] as LookupAddress;
        callback(null, first.address, first.family);
      });
    };

  const once = (url: URL, init: Parameters<Fetcher>[1]): Promise<IncomingMessage> => {
    const host = bareHost(url.hostname);
    const allowed = guard.allowHosts.has(host);
    if (!allowed && isIP(host) !== 0 && !isPublicAddress(host))
      return Promise.reject(new BlockedUrlError(host, guard.allowSetting));
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, {
        method: 'GET',
        headers: init?.headers ?? {},
        ...(init?.signal === undefined ? {} : { signal: init.signal }),
        ...(allowed ? {} : { lookup: checkedLookup(host) }),
      });
      req.once('response', resolve);
      req.once('error', reject);
      req.end();
    });
  };

  return async (input, init) => {
    let url = new URL(input);
    for (let hop = 0; ; hop++) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw new TypeError(`only http(s) URLs are fetched, not ${url.protocol}`);
      const res = await once(url, init);
      const location = res.headers.location;
      if (
        res.statusCode !== undefined &&
        res.statusCode >= 300 &&
        res.statusCode < 400 &&
        location !== undefined
      ) {
        res.resume();
        if (hop >= maxRedirects) throw new TypeError(`more than ${maxRedirects} redirects`);
        url = new URL(location, url);
        continue;
      }
      const status = res.statusCode ?? 502;
      const headers = new Headers();
      for (const [name, value] of Object.entries(res.headers)) {
        if (value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
      }
      const empty = status === 204 || status === 304;
      if (empty) res.resume();
      return new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
        status,
        statusText: res.statusMessage ?? '',
        headers,
      });
    }
  };
}
