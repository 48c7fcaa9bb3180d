/** Result files (`/files/{jobId}/video.mp4`, `last-frame.png`), served from the package's fixtures once a job completes. */
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { packageAsset } from '../core/package-files.js';
import { jobStatus } from './clock.js';
import type { Fault } from './faults.js';
import { holdBack, type RecordedExchange, send } from './http.js';
import type { SimState } from './state.js';
import { strikeAfter } from './strike.js';

export interface ResultFixtures {
  video: Buffer;
  frame: Buffer;
}

export async function loadFixtures(): Promise<ResultFixtures> {
  const [video, frame] = await Promise.all([
    readFile(packageAsset('sim-video.mp4')),
    readFile(packageAsset('sim-last-frame.png')),
  ]);
  return { video, frame };
}

/** A result file, with the faults that strike after the work (a download cut off, held back, spoiled, lost). */
export async function serveFile(
  state: SimState,
  fixtures: ResultFixtures,
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
  const bytes = isVideo ? fixtures.video : fixtures.frame;
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
  }
  entry.status = 200;
  res.writeHead(200, { 'content-type': contentType, 'content-length': String(bytes.length) });
  res.end(bytes);
}
