/** `POST /v2/uploads`: a streamed multipart upload, its type sniffed from the bytes and its size held to the limits. */
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import {
  describeAcceptedFormats,
  formatBytes,
  SNIFF_BYTES,
  sniffMedia,
  UPLOAD_LIMITS,
} from '../domain/media.js';
import { HttpFailure, headerValue } from './http.js';
import type { SimState, SimUpload } from './state.js';

export function uploadFile(state: SimState, req: IncomingMessage): Promise<unknown> {
  const contentType = headerValue(req, 'content-type') ?? '';
  if (!contentType.toLowerCase().startsWith('multipart/form-data')) {
    req.resume();
    throw new HttpFailure(400, { error: 'Expected multipart/form-data with a "file" field' });
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error: HttpFailure) => {
      if (settled) return;
      settled = true;
      req.unpipe();
      req.resume();
      reject(error);
    };
    let sawFile = false;
    const parser = busboy({ headers: req.headers, limits: { files: 1, fields: 10 } });
    parser.on('file', (field, stream) => {
      if (field !== 'file' || sawFile) {
        stream.resume();
        return;
      }
      sawFile = true;
      const hash = createHash('sha256');
      let head = Buffer.alloc(0);
      let size = 0;
      let limit: number = Math.max(...Object.values(UPLOAD_LIMITS));
      let type: ReturnType<typeof sniffMedia>;
      stream.on('data', (chunk: Buffer) => {
        if (settled) return;
        size += chunk.length;
        hash.update(chunk);
        if (type === undefined && head.length < SNIFF_BYTES) {
          head = Buffer.concat([head, chunk.subarray(0, SNIFF_BYTES - head.length)]);
          if (head.length >= SNIFF_BYTES) {
            type = sniffMedia(head);
            if (type === undefined) {
              fail(
                new HttpFailure(400, {
                  error: 'Unsupported file type',
                  details: { file: [`Accepted: ${describeAcceptedFormats()}`] },
                }),
              );
              return;
            }
            limit = UPLOAD_LIMITS[type.kind];
          }
        }
        if (size > limit) {
          fail(
            new HttpFailure(400, {
              error: 'File too large',
              details: { file: [`max ${formatBytes(limit)} for ${type?.kind ?? 'this'} files`] },
            }),
          );
        }
      });
      stream.on('end', () => {
        if (settled) return;
        type ??= sniffMedia(head);
        if (type === undefined) {
          fail(
            new HttpFailure(400, {
              error: 'Unsupported file type',
              details: { file: ['unrecognised content'] },
            }),
          );
          return;
        }
        const upload: SimUpload = {
          id: randomUUID(),
          kind: type.kind,
          contentType: type.contentType,
          byteSize: size,
          sha256: hash.digest('hex'),
        };
        state.uploads.set(upload.id, upload);
        settled = true;
        resolve({
          id: upload.id,
          url: `${state.url}/uploads/${upload.id}.${type.extension}`,
          kind: upload.kind,
          contentType: upload.contentType,
          byteSize: upload.byteSize,
          expiresAt: new Date(state.now() + 90 * 60_000).toISOString(),
        });
      });
    });
    parser.on('error', () => fail(new HttpFailure(400, { error: 'Malformed multipart body' })));
    parser.on('close', () => {
      if (!sawFile) fail(new HttpFailure(400, { error: 'No file', details: { file: ['Required'] } }));
    });
    req.on('aborted', () => {
      settled = true;
    });
    req.pipe(parser);
  });
}
