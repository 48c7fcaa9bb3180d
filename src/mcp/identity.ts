/**
 * How the server introduces itself in `initialize`: name, title, version, website and icon. The icon travels as a
 * data: URI, so that a client shows it offline and fetches nothing. Tools carry no icon of their own: tools/list,
 * which every prompt pays for, is within a few bytes of its 8 KB budget (test/footprint.test.ts).
 */
import { readFileSync } from 'node:fs';
import type { Implementation } from '@modelcontextprotocol/sdk/types.js';
import { packageAsset } from '../core/package-files.js';
import { HOMEPAGE, VERSION } from '../core/version.js';

let icon: string | undefined;

export function serverInfo(): Implementation {
  icon ??= `data:image/png;base64,${readFileSync(packageAsset('icon.png')).toString('base64')}`;
  return {
    name: 'seedance-mcp',
    title: 'Seedance 2.0 video (Apiframe)',
    version: VERSION,
    websiteUrl: HOMEPAGE,
    icons: [{ src: icon, mimeType: 'image/png', sizes: ['128x128'] }],
  };
}
