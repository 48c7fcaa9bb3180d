/**
 * Large uploads: sent through two reused buffers (the bytes that arrive are exactly the file's), and started beside
 * the hash for a file this process has not seen, abandoned when the same bytes turn out to be an asset already.
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { structuredOf, textOf, useHarness } from './helpers/mcp.js';

const start = useHarness();

/** An MP4 as the sniffer sees one, of random bytes: every chunk differs, so a reused buffer sent twice would show. */
async function video(path: string, bytes: number): Promise<Buffer> {
  const data = randomBytes(bytes);
  data.writeUInt32BE(32, 0);
  data.write('ftypisom', 4, 'latin1');
  await writeFile(path, data);
  return data;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('upload_asset of a large file', () => {
  it('arrives byte for byte, is uploaded once, and its copy elsewhere reuses the asset', async () => {
    const h = await start();
    const path = join(h.dirs.work, 'clip.mp4');
    // Not a multiple of the 512 KB chunk: the last read is short.
    const data = await video(path, 9 * 1024 * 1024 + 12_345);
    const first = await h.call('upload_asset', { source: path });
    expect(first.isError, textOf(first)).toBeFalsy();
    expect(structuredOf(first)).toMatchObject({ reused: false, bytes: data.length, sha256: sha256(data) });
    const uploads = [...h.sim.uploads.values()];
    expect(uploads).toHaveLength(1);
    expect(uploads[0]).toMatchObject({ byteSize: data.length, sha256: sha256(data), kind: 'video' });

    // The same file again: known to this process, hashed first, reused without a byte sent.
    const again = structuredOf(await h.call('upload_asset', { source: path }));
    expect(again).toMatchObject({ reused: true, asset_id: structuredOf(first).asset_id });
    expect(h.sim.hits.get('upload')).toBe(1);

    // A copy: a file never seen, so its upload starts beside the hash, and is abandoned when the hash finds the asset.
    const copy = join(h.dirs.work, 'copy.mp4');
    await copyFile(path, copy);
    const copied = structuredOf(await h.call('upload_asset', { source: copy }));
    expect(copied).toMatchObject({ reused: true, asset_id: structuredOf(first).asset_id });
    expect(h.sim.uploads.size).toBe(1);
  });

  it('a new version of the file is uploaded again, its own bytes', async () => {
    const h = await start();
    const path = join(h.dirs.work, 'clip.mp4');
    await video(path, 5 * 1024 * 1024);
    await h.call('upload_asset', { source: path });
    const changed = await video(path, 6 * 1024 * 1024 + 1);
    const second = structuredOf(await h.call('upload_asset', { source: path }));
    expect(second).toMatchObject({ reused: false, sha256: sha256(changed) });
    expect([...h.sim.uploads.values()].map((u) => u.sha256)).toContain(sha256(changed));
  });
});
