/**
 * What Apiframe's upload endpoint accepts: the file types it sniffs from the bytes and the size limit of each kind.
 * The client checks a file against these before sending it; the simulator enforces them.
 */
import type { MediaKind } from './params.js';

export interface MediaType {
  kind: MediaKind;
  contentType: string;
  extension: string;
}

const MiB = 1024 * 1024;

export const UPLOAD_LIMITS: Readonly<Record<MediaKind, number>> = {
  image: 25 * MiB,
  audio: 25 * MiB,
  video: 50 * MiB,
};

/** The file types Apiframe accepts, by kind, under the names people know them by. */
export const ACCEPTED_FORMATS: Readonly<Record<MediaKind, readonly string[]>> = {
  image: ['PNG', 'JPEG', 'WebP', 'GIF'],
  video: ['MP4', 'WebM', 'MOV'],
  audio: ['MP3', 'WAV', 'OGG', 'M4A'],
};

/** "PNG, JPEG, WebP or GIF images; MP4, WebM or MOV videos; MP3, WAV, OGG or M4A audio" */
export function describeAcceptedFormats(): string {
  const nouns: Record<MediaKind, string> = { image: 'images', video: 'videos', audio: 'audio' };
  return Object.entries(ACCEPTED_FORMATS)
    .map(([kind, names]) => `${names.slice(0, -1).join(', ')} or ${names.at(-1)} ${nouns[kind as MediaKind]}`)
    .join('; ');
}

/** Bytes needed to recognise every accepted type. */
export const SNIFF_BYTES = 16;

function ascii(bytes: Uint8Array, start: number, text: string): boolean {
  if (bytes.length < start + text.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[start + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** The type of a file from its first SNIFF_BYTES bytes, or undefined when it is none Apiframe accepts. */
export function sniffMedia(head: Uint8Array): MediaType | undefined {
  const b = head;
  if (b[0] === 0x89 && ascii(b, 1, 'PNG\r\n\x1a\n'))
    return { kind: 'image', contentType: 'image/png', extension: 'png' };
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff)
    return { kind: 'image', contentType: 'image/jpeg', extension: 'jpg' };
  if (ascii(b, 0, 'GIF87a') || ascii(b, 0, 'GIF89a'))
    return { kind: 'image', contentType: 'image/gif', extension: 'gif' };
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'WEBP'))
    return { kind: 'image', contentType: 'image/webp', extension: 'webp' };
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'WAVE'))
    return { kind: 'audio', contentType: 'audio/wav', extension: 'wav' };
  if (ascii(b, 0, 'OggS')) return { kind: 'audio', contentType: 'audio/ogg', extension: 'ogg' };
  if (ascii(b, 0, 'ID3') || (b[0] === 0xff && b[1] !== undefined && (b[1] & 0xe6) === 0xe2))
    return { kind: 'audio', contentType: 'audio/mpeg', extension: 'mp3' };
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3)
    return { kind: 'video', contentType: 'video/webm', extension: 'webm' };
  if (ascii(b, 4, 'ftyp')) {
    if (ascii(b, 8, 'qt  ')) return { kind: 'video', contentType: 'video/quicktime', extension: 'mov' };
    if (ascii(b, 8, 'M4A ') || ascii(b, 8, 'M4B '))
      return { kind: 'audio', contentType: 'audio/mp4', extension: 'm4a' };
    return { kind: 'video', contentType: 'video/mp4', extension: 'mp4' };
  }
  return undefined;
}

export function formatBytes(bytes: number): string {
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${bytes} B`;
}
