/**
 * Local media measured before anything is uploaded: every local file a request names is opened (access checked),
 * its pixels or length read from its bytes, and Seedance's media rules judged on the lot. A request that breaks
 * one is refused whole, so no upload is wasted on it. Remote references cannot be measured cheaply: they are named
 * in a warning instead.
 */
import { FileRejectedError, InvalidArgumentsError } from '../core/errors.js';
import { probeMedia, UnreadableMediaError } from '../domain/media-probe.js';
import {
  LIMITS,
  MEDIA_FIELD_KIND,
  MEDIA_FIELDS,
  type MediaField,
  type MediaKind,
  type MediaMeasure,
  mediaRefKind,
  mediaRuleBreaks,
  refName,
  ruleIssues,
} from '../domain/params.js';
import { type AccessScope, type LocalFile, openLocalMedia } from './local-files.js';

export type MediaRefs = Partial<Record<MediaField, string | string[] | undefined>>;

export interface MeasuredRefs {
  /** Each local file, open, by the reference it was given as (`field` or `field[i]`). */
  files: Map<string, LocalFile>;
  /** Media limits that could not be checked (remote references). */
  warnings: string[];
  /** Closes every file; call it whatever happens next. */
  close(): Promise<void>;
}

interface MediaRef {
  field: MediaField;
  index: number | undefined;
  ref: string;
}

function refsOf(params: MediaRefs): MediaRef[] {
  return MEDIA_FIELDS.flatMap((field): MediaRef[] => {
    const value = params[field];
    if (value === undefined) return [];
    if (!Array.isArray(value)) return [{ field, index: undefined, ref: value }];
    return value.map((ref, index) => ({ field, index, ref }));
  });
}

/** The limits Seedance holds media of these kinds to, in a sentence. */
function limitsOf(kinds: ReadonlySet<MediaKind>): string {
  const { image, referenceVideoSeconds, referenceAudioSeconds } = LIMITS;
  const parts = [
    kinds.has('image') &&
      `images of ${image.minSide}-${image.maxSide} px a side (aspect ${image.minAspect}-${image.maxAspect})`,
    kinds.has('video') &&
      `reference videos of ${referenceVideoSeconds.min}-${referenceVideoSeconds.max} s in all (MP4 or MOV)`,
    kinds.has('audio') && `reference audio of at most ${referenceAudioSeconds.max} s in all (MP3 or WAV)`,
  ].filter((part) => part !== false);
  return `Seedance needs ${parts.join(', ')}.`;
}

/** Reads bytes [start, end) of an open file through its handle: the file that was checked is the one measured. */
function readerOf(file: LocalFile) {
  return async (start: number, end: number) => {
    const buffer = Buffer.alloc(end - start);
    let done = 0;
    while (done < buffer.length) {
      const { bytesRead } = await file.handle.read(buffer, done, buffer.length - done, start + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buffer.subarray(0, done);
  };
}

/**
 * Opens and measures every local file of the request; throws InvalidArgumentsError if a media rule is broken. The
 * access scope is asked for only when there is a local file (it may cost a round trip to the client for its roots).
 */
export async function measureMediaRefs(
  params: MediaRefs,
  accessScope: () => Promise<AccessScope>,
): Promise<MeasuredRefs> {
  const files = new Map<string, LocalFile>();
  const close = async () => {
    await Promise.all([...files.values()].map((f) => f.handle.close().catch(() => {})));
  };
  const unmeasured: { field: MediaField; index: number | undefined; url: boolean }[] = [];
  try {
    const measures: MediaMeasure[] = [];
    for (const { field, index, ref } of refsOf(params)) {
      const kind = mediaRefKind(ref);
      if (kind !== 'local') {
        unmeasured.push({ field, index, url: kind === 'url' });
        continue;
      }
      const file = await openLocalMedia(ref, await accessScope(), MEDIA_FIELD_KIND[field]);
      files.set(refName(field, index), file);
      let dimensions: Awaited<ReturnType<typeof probeMedia>>;
      try {
        dimensions = await probeMedia(file.type.kind, file.size, readerOf(file));
      } catch (error) {
        if (!(error instanceof UnreadableMediaError)) throw error;
        throw new FileRejectedError(
          ref,
          error.message,
          `Give a valid ${file.type.kind} file (${file.type.contentType} is what its first bytes say).`,
        );
      }
      measures.push({
        field,
        index,
        kind: file.type.kind,
        contentType: file.type.contentType,
        bytes: file.size,
        ...dimensions,
      });
    }
    const breaks = mediaRuleBreaks(measures, new Set(unmeasured.map((u) => u.field)));
    if (breaks.length > 0) {
      throw new InvalidArgumentsError(
        ruleIssues(breaks),
        'Fix the named files (measured locally) and call again; nothing was uploaded or submitted.',
      );
    }
  } catch (error) {
    await close();
    throw error;
  }
  // Asset URIs are left out: they came from upload_asset, from a file or URL the agent already chose.
  const urls = unmeasured.filter((u) => u.url);
  const warnings =
    urls.length === 0
      ? []
      : [
          `Not measured (a URL): ${urls.map((u) => refName(u.field, u.index)).join(', ')}. ${limitsOf(new Set(urls.map((u) => MEDIA_FIELD_KIND[u.field])))} Local files are measured before anything is paid.`,
        ];
  return { files, warnings, close };
}
