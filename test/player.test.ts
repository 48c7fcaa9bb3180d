/**
 * The MCP Apps player in a real browser: headless Chromium from its npm package, driven by playwright-core, loads
 * the server's ui://seedance/player view in a sandboxed iframe under the CSP its resource declares, and plays the
 * host's side of the app bridge (ext-apps' postMessage JSON-RPC: ui/initialize, the tool result notification, and
 * tools/call and resources/read forwarded to the real server). The result is the server's own, from the simulator.
 */
import { copyFile, mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RESOURCE_MIME_TYPE as EXT_APPS_MIME } from '@modelcontextprotocol/ext-apps/server';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import chromium from '@sparticuz/chromium';
import { type BrowserContext, chromium as playwright } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { PLAYER_URI, RESOURCE_MIME_TYPE } from '../src/mcp/resources.js';
import { type Harness, useHarness } from './helpers/mcp.js';

const start = useHarness();

/** The parts of an HTMLVideoElement read here (this file is typed for Node, without the DOM library). */
interface VideoElement {
  canPlayType(type: string): string;
  readyState: number;
  videoWidth: number;
  duration: number;
  error: unknown;
}
const SCREENSHOT = new URL('../reports/player.png', import.meta.url).pathname;
const DOCS_PICTURE = new URL('../docs/player.png', import.meta.url).pathname;

let context: BrowserContext | undefined;
afterEach(async () => {
  await context?.close();
  context = undefined;
});

/** A fresh browser with no network-bound background work: this machine has no network. */
async function browser(): Promise<BrowserContext> {
  const profile = await mkdtemp(join(tmpdir(), 'seedance-chromium-'));
  context = await playwright.launchPersistentContext(profile, {
    executablePath: await chromium.executablePath(),
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 760, height: 560 },
  });
  return context;
}

/** The host page: the view in a sandboxed iframe, and the host's half of the bridge. */
const HOST_SCRIPT = `
const frame = document.getElementById('view');
const send = (message) => frame.contentWindow.postMessage({ jsonrpc: '2.0', ...message }, '*');
window.addEventListener('message', async (event) => {
  if (event.source !== frame.contentWindow) return;
  const message = event.data;
  if (message.method === 'ui/notifications/initialized') {
    send({ method: 'ui/notifications/tool-result', params: window.toolResult });
    return;
  }
  if (message.id === undefined) return;
  if (message.method === 'ui/initialize') {
    send({ id: message.id, result: {
      protocolVersion: message.params.protocolVersion,
      hostInfo: { name: 'seedance-test-host', version: '1.0.0' },
      hostCapabilities: { serverTools: {}, serverResources: {} },
      hostContext: { theme: 'light', displayMode: 'inline' },
    } });
    return;
  }
  try {
    window.bridgeCalls.push(message.method);
    send({ id: message.id, result: await window.forward(message.method, message.params) });
  } catch (error) {
    send({ id: message.id, error: { code: -32603, message: String(error) } });
  }
});
`;

async function showResult(h: Harness, result: CallToolResult) {
  const read = await h.client.readResource({ uri: PLAYER_URI });
  const view = read.contents[0] as { text: string; mimeType: string; _meta?: Record<string, unknown> };
  const domains =
    (view._meta as { ui?: { csp?: { resourceDomains?: string[] } } } | undefined)?.ui?.csp?.resourceDomains ??
    [];
  // The CSP a host derives from the resource: inline script and style only, media from data: or declared origins.
  const csp = `default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: ${domains.join(' ')}; media-src data: blob: ${domains.join(' ')}`;
  const html = view.text.replace(
    '<head>',
    `<head><meta http-equiv="Content-Security-Policy" content="${csp}">`,
  );

  const page = await (await browser()).newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('request', (r) => {
    if (!r.url().startsWith('data:') && r.url() !== 'about:blank')
      problems.push(`network request: ${r.url()}`);
  });
  await page.exposeFunction('forward', async (method: string, params: Record<string, unknown>) => {
    if (method === 'tools/call') return h.client.callTool(params as { name: string });
    if (method === 'resources/read') return h.client.readResource(params as { uri: string });
    throw new Error(`the test host does not forward ${method}`);
  });
  // JSON inside a script: "</" escaped so that nothing in it can end the script early.
  const embed = (value: unknown) => JSON.stringify(value).replaceAll('</', '<\\/');
  await page.setContent(`<!doctype html><body style="margin:0">
<iframe id="view" sandbox="allow-scripts" style="border:0;width:760px;height:560px"></iframe>
<script>
window.toolResult = ${embed(result)};
window.bridgeCalls = [];
${HOST_SCRIPT}
document.getElementById('view').srcdoc = ${embed(html)};
</script></body>`);
  const frame = page.frameLocator('#view');
  return { page, frame, problems, view };
}

describe('the MCP Apps player', () => {
  it('is a ui:// resource linked from the two video tools', async () => {
    const h = await start();
    expect(RESOURCE_MIME_TYPE).toBe(EXT_APPS_MIME);
    const { resources } = await h.client.listResources();
    expect(resources[0]).toMatchObject({ uri: PLAYER_URI, mimeType: EXT_APPS_MIME });
    const { tools } = await h.client.listTools();
    for (const name of ['generate_video', 'get_video'])
      expect(tools.find((t) => t.name === name)?._meta).toEqual({ ui: { resourceUri: PLAYER_URI } });
    const read = await h.client.readResource({ uri: PLAYER_URI });
    const view = read.contents[0] as { text: string; mimeType: string };
    expect(view.mimeType).toBe(EXT_APPS_MIME);
    // Self-contained: no script or stylesheet from anywhere.
    expect(view.text).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet/i);
  });

  it('finds the job from the text alone, for hosts that pass the view only the text', async () => {
    const h = await start();
    const full = (await h.call('generate_video', {
      prompt: 'A lantern on a jetty',
      duration: 4,
    })) as CallToolResult;
    const textOnly: CallToolResult = { content: full.content.filter((c) => c.type === 'text') };
    const { frame, problems } = await showResult(h, textOnly);
    await frame.locator('body[data-ready="true"]').waitFor({ timeout: 20_000 });
    expect(await frame.locator('#prompt').textContent()).toBe('A lantern on a jetty');
    expect(await frame.locator('#cost').textContent()).toMatch(/^\d+ credits charged$/);
    expect(await frame.locator('#video').getAttribute('src')).toMatch(/^data:video\/mp4;base64,/);
    expect(problems).toEqual([]);
  }, 60_000);

  it('follows a running job through the bridge, then plays the video with its cost and budget', async () => {
    const h = await start({
      config: { budgetCredits: 500 },
      sim: { queuedMs: 100, processingMs: 1_500 },
    });
    const result = (await h.call('generate_video', {
      prompt: 'A hot-air balloon over a misty valley at sunrise',
      duration: 5,
      return_last_frame: true,
      wait_seconds: 0,
    })) as CallToolResult;
    expect((result.structuredContent as { status: string }).status).not.toBe('completed');
    const { page, frame, problems } = await showResult(h, result);

    await expect
      .poll(async () => frame.locator('#status').getAttribute('data-status'), { timeout: 10_000 })
      .toMatch(/queued|processing|completed/);
    await frame.locator('body[data-ready="true"]').waitFor({ timeout: 20_000 });
    expect(await frame.locator('#status').getAttribute('data-status')).toBe('completed');
    // Refreshed through the bridge: get_video calls, and the media read over resources/read.
    const calls = (await page.evaluate('window.bridgeCalls')) as string[];
    expect(calls).toContain('tools/call');
    expect(calls).toContain('resources/read');

    expect(await frame.locator('#cost').textContent()).toBe('20 credits charged');
    expect(await frame.locator('#budget').textContent()).toBe('budget left 480 of 500');
    expect(await frame.locator('#prompt').textContent()).toBe(
      'A hot-air balloon over a misty valley at sunrise',
    );
    expect(await frame.locator('#progress').isHidden()).toBe(true);
    const video = frame.locator('#video');
    expect(await video.getAttribute('src')).toMatch(/^data:video\/mp4;base64,/);
    expect(await video.getAttribute('poster')).toMatch(/^data:image\/png;base64,/);
    expect(await frame.locator('#frame').isVisible()).toBe(true);
    const playable = await video.evaluate((v: VideoElement) =>
      v.canPlayType('video/mp4; codecs="avc1.42E01E"'),
    );
    if (playable !== '') {
      // The browser decodes it: its metadata load, with the simulator's real dimensions and duration.
      await expect
        .poll(() => video.evaluate((v: VideoElement) => v.readyState), { timeout: 10_000 })
        .toBeGreaterThanOrEqual(1);
      const meta = await video.evaluate((v: VideoElement) => ({
        w: v.videoWidth,
        d: v.duration,
        error: v.error,
      }));
      expect(meta.w).toBeGreaterThan(0);
      expect(meta.d).toBeGreaterThan(0);
      expect(meta.error).toBeNull();
    } else {
      // A Chromium without H.264: the poster frame and the figures show instead.
      expect(
        await frame.locator('#frame').evaluate((i: { naturalWidth: number }) => i.naturalWidth),
      ).toBeGreaterThan(0);
    }
    expect(problems).toEqual([]);

    await mkdir(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    // The README's picture is this screenshot, renewed on purpose (UPDATE_PLAYER_PICTURE=1), not by every run.
    if (process.env.UPDATE_PLAYER_PICTURE === '1') await copyFile(SCREENSHOT, DOCS_PICTURE);
  }, 60_000);
});
