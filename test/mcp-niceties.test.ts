/**
 * What clients show besides the tools: the server's icon and website in `initialize`, and its log through the
 * `logging` capability (`logging/setLevel`, `notifications/message`), redacted like stderr.
 */
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { log } from '../src/core/log.js';
import { type Harness, useHarness } from './helpers/mcp.js';
import { TEST_KEY } from './helpers/simulator.js';

/** Collects the log notifications the client receives, and lets a test wait for the next one. */
function logMessages(h: Harness) {
  const received: { level: string; data: unknown }[] = [];
  const waiters: (() => void)[] = [];
  h.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    received.push({ level: n.params.level, data: n.params.data });
    for (const wake of waiters.splice(0)) wake();
  });
  return {
    received,
    next: () => new Promise<void>((resolve) => waiters.push(resolve)),
  };
}

describe('MCP niceties', () => {
  const harness = useHarness();

  it('initialize names the website and carries the icon as a PNG data URI; logging is a capability', async () => {
    const h = await harness();
    const info = h.client.getServerVersion();
    expect(info?.websiteUrl).toMatch(/^https:\/\/github\.com\/.+/);
    const icon = info?.icons?.[0];
    expect(icon).toMatchObject({ mimeType: 'image/png', sizes: ['128x128'] });
    const png = Buffer.from(icon?.src.replace(/^data:image\/png;base64,/, '') ?? '', 'base64');
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(h.client.getServerCapabilities()?.logging).toEqual({});
  });

  it('sends the log to the client at the level it sets, with the key masked', async () => {
    const h = await harness();
    const messages = logMessages(h);
    await h.client.setLoggingLevel('debug');
    let arrived = messages.next();
    log.debug('probe at debug', { key: TEST_KEY });
    await arrived;
    expect(messages.received).toHaveLength(1);
    expect(messages.received[0]).toMatchObject({ level: 'debug' });
    expect(String(messages.received[0]?.data)).toMatch(/^probe at debug key=/);
    expect(JSON.stringify(messages.received)).not.toContain(TEST_KEY);

    await h.client.setLoggingLevel('warning');
    arrived = messages.next();
    log.info('below the level: not sent');
    log.warn('probe at warn');
    await arrived;
    expect(messages.received.map((m) => [m.level, m.data])).toEqual([
      ['debug', expect.stringMatching(/^probe at debug/)],
      ['warning', 'probe at warn'],
    ]);
  });

  it('before the client sets a level, sends what stderr gets (SEEDANCE_LOG_LEVEL, info by default)', async () => {
    const h = await harness();
    const messages = logMessages(h);
    const arrived = messages.next();
    log.debug('debug: not sent by default');
    log.info('probe at info');
    await arrived;
    expect(messages.received).toEqual([{ level: 'info', data: 'probe at info' }]);
  });
});
