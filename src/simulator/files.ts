/**
 * Result files (`/files/{jobId}/video.mp4`, `last-frame.png`) once a job completes: made for the job (its length,
 * its aspect ratio, its own last frame) by media.ts.
 */
import type { ServerResponse } from 'node:http';
import { DEFAULTS } from '../domain/params.js';
import { jobStatus } from './clock.js';
import type { Fault } from './faults.js';
import { holdBack, type RecordedExchange, send } from './http.js';
import type { SimulatedMedia } from './media.js';
import type { SimState } from './state.js';
import { stall, strikeAfter } from './strike.js';

/** A result file, with the faults that strike after the work (a download cut off, held back, spoiled, lost). */
export async function serveFile(
  state: SimState,
  media: SimulatedMedia,
  res: ServerResponse,
  pathname: string,
  entry: RecordedExchange,
  fault: Fault | undefined,
): Promise<void> {
  const match = /^\/files\/([0-9a-f-]{36})\/(video\.mp4|last-frame\.png)$/.exec(pathname);
  const job = match?.[1] === undefined ? undefined : state.jobs.get(match[1]);
  if (job === undefined || jobStatus(job, state.now()).status !== 'COMPLETED') {
    if (fault !== undefined) await strikeAfter(fault, res, 404, { error: 'Not found' }, entry);
    else send(res, 404, { error: 'Not found' }, entry);
    return;
  }
  const isVideo = match?.[2] === 'video.mp4';
  const params = job.input.seedanceParams;
  const aspect = params?.aspect_ratio ?? DEFAULTS.aspect_ratio;
  const bytes = isVideo
    ? await media.video(aspect, params?.duration ?? DEFAULTS.duration)
    : media.lastFrame(job.id, aspect);
  const contentType = isVideo ? 'video/mp4' : 'image/png';
  switch (fault?.kind) {
    case 'reset_after':
      res.socket?.destroy();
      return;
    case 'slow':
      await holdBack(res, fault.delayMs);
      if (res.destroyed) return;
      break;
    case 'malformed':
      entry.status = 200;
      res.writeHead(200, { 'content-type': contentType });
      res.end('<html>Bad gateway</html>');
      return;
    case 'truncated':
      entry.status = 200;
      res.writeHead(200, { 'content-type': contentType, 'content-length': String(bytes.length) });
      res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => res.socket?.destroy());
      return;
    case 'stall':
      entry.status = 200;
      await stall(res, 200, contentType, bytes, fault.delayMs);
      return;
  }
  entry.status = 200;
  res.writeHead(200, { 'content-type': contentType, 'content-length': String(bytes.length) });
  res.end(bytes);
}
