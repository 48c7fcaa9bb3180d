/** Media read in tests with the library the product reads it with (pure JavaScript: no ffprobe on the machine). */
import { readFile } from 'node:fs/promises';
import { type MediaDimensions, probeMedia } from '../../src/domain/media-probe.js';
import type { MediaKind } from '../../src/domain/params.js';

export async function probeBytes(kind: MediaKind, bytes: Uint8Array): Promise<MediaDimensions> {
  return probeMedia(kind, bytes.length, async (start, end) => bytes.subarray(start, end));
}

export async function probeFile(kind: MediaKind, path: string): Promise<MediaDimensions> {
  return probeBytes(kind, await readFile(path));
}
