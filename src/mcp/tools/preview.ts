/**
 * A small preview of a last frame, for clients that show images: decoded, shrunk and re-encoded as a JPEG in pure
 * JavaScript (pngjs, jpeg-js: no native addon), so that a megabyte frame never floods the model's context. A frame
 * that cannot be made small enough, or is of a type not decoded here (WebP, GIF), gets no preview: its path is in
 * the result anyway.
 */
import { readFile, stat } from 'node:fs/promises';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

/** Widest preview, in pixels. */
export const PREVIEW_MAX_WIDTH = 320;
/** Largest preview, in bytes before base64 (a third more after): the whole result must stay under 24 KB. */
export const PREVIEW_MAX_BYTES = 12 * 1024;
/** Frames larger than this are not decoded at all (a 4k PNG is about 20 MB). */
const DECODE_MAX_BYTES = 40 * 1024 * 1024;
/** Tried in turn until the JPEG fits PREVIEW_MAX_BYTES. */
const ATTEMPTS = [
  { width: PREVIEW_MAX_WIDTH, quality: 70 },
  { width: PREVIEW_MAX_WIDTH, quality: 45 },
  { width: 240, quality: 40 },
  { width: 160, quality: 40 },
];

interface Pixels {
  width: number;
  height: number;
  data: Uint8Array;
}

function decode(bytes: Buffer): Pixels | undefined {
  try {
    if (bytes[0] === 0x89 && bytes.toString('latin1', 1, 4) === 'PNG') return PNG.sync.read(bytes);
    if (bytes[0] === 0xff && bytes[1] === 0xd8)
      return jpeg.decode(bytes, { useTArray: true, maxMemoryUsageInMB: 256 });
  } catch {
    return undefined;
  }
  return undefined;
}

/** Box-filter downscale of RGBA pixels to `width` (the height keeps the aspect). */
function shrink(source: Pixels, width: number): Pixels {
  if (source.width <= width) return source;
  const height = Math.max(1, Math.round((source.height * width) / source.width));
  const data = new Uint8Array(width * height * 4);
  const sx = source.width / width;
  const sy = source.height / height;
  for (let y = 0; y < height; y++) {
    const y0 = Math.floor(y * sy);
    const y1 = Math.max(y0 + 1, Math.floor((y + 1) * sy));
    for (let x = 0; x < width; x++) {
      const x0 = Math.floor(x * sx);
      const x1 = Math.max(x0 + 1, Math.floor((x + 1) * sx));
      const sum = [0, 0, 0, 0];
      for (let yy = y0; yy < y1; yy++) {
        for (let xx = x0; xx < x1; xx++) {
          const i = (yy * source.width + xx) * 4;
          for (let c = 0; c < 4; c++) sum[c] = (sum[c] ?? 0) + (source.data[i + c] ?? 0);
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (y * width + x) * 4;
      for (let c = 0; c < 4; c++) data[o + c] = Math.round((sum[c] ?? 0) / n);
    }
  }
  return { width, height, data };
}

/** A JPEG thumbnail of the image file, at most PREVIEW_MAX_WIDTH wide and PREVIEW_MAX_BYTES long, or undefined. */
export async function thumbnail(path: string): Promise<Buffer | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined || !info.isFile() || info.size > DECODE_MAX_BYTES) return undefined;
  const bytes = await readFile(path).catch(() => undefined);
  const pixels = bytes === undefined ? undefined : decode(bytes);
  if (pixels === undefined) return undefined;
  for (const attempt of ATTEMPTS) {
    const small = shrink(pixels, attempt.width);
    const encoded = jpeg.encode({ ...small, data: Buffer.from(small.data.buffer) }, attempt.quality);
    if (encoded.data.length <= PREVIEW_MAX_BYTES) return Buffer.from(encoded.data);
  }
  return undefined;
}
