/**
 * The length of a video or audio file and the pixels of an image, read from its bytes with pure-JavaScript parsers
 * (mediabunny for containers, image-size for image headers): they run wherever Node runs, inside the bundle, with no
 * system binary. The bytes come through a read callback, so the caller decides which file (an open handle) is read.
 */
import { imageSize } from 'image-size';
import { ALL_FORMATS, CustomSource, Input } from 'mediabunny';
import type { MediaKind } from './params.js';

/** Reads bytes [start, end) of the file. */
export type ByteReader = (start: number, end: number) => Promise<Uint8Array>;

export interface MediaDimensions {
  width?: number | undefined;
  height?: number | undefined;
  seconds?: number | undefined;
  /** The codec of the first video track, or else of the first audio track (`avc`, `aac`, `mp3`, ...). */
  codec?: string | undefined;
}

/** Image headers are near the start; a JPEG's frame header can follow large EXIF blocks, hence the whole file at worst. */
const IMAGE_HEAD_BYTES = 256 * 1024;

export class UnreadableMediaError extends Error {}

export async function probeMedia(kind: MediaKind, size: number, read: ByteReader): Promise<MediaDimensions> {
  if (kind === 'image') return probeImage(size, read);
  const input = new Input({
    formats: ALL_FORMATS,
    source: new CustomSource({ getSize: () => size, read, prefetchProfile: 'fileSystem' }),
  });
  try {
    const seconds = await input.computeDuration();
    const video = await input.getPrimaryVideoTrack();
    const audio = await input.getPrimaryAudioTrack();
    return {
      seconds,
      width: video?.displayWidth,
      height: video?.displayHeight,
      codec: video?.codec ?? audio?.codec ?? undefined,
    };
  } catch (error) {
    throw new UnreadableMediaError(`cannot be read as ${kind}: ${(error as Error).message}`);
  } finally {
    input.dispose();
  }
}

async function probeImage(size: number, read: ByteReader): Promise<MediaDimensions> {
  const attempt = (bytes: Uint8Array) => {
    try {
      return imageSize(bytes);
    } catch {
      return undefined;
    }
  };
  let found = attempt(await read(0, Math.min(size, IMAGE_HEAD_BYTES)));
  if (found === undefined && size > IMAGE_HEAD_BYTES) found = attempt(await read(0, size));
  if (found === undefined) throw new UnreadableMediaError('cannot be read as an image');
  // EXIF orientations 5-8 turn the picture a quarter: its sides swap.
  const turned = (found.orientation ?? 1) >= 5;
  return { width: turned ? found.height : found.width, height: turned ? found.width : found.height };
}
