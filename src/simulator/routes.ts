/** Which Apiframe route a request is for. */

import type { SimulatorRoute } from './faults.js';
import { HttpFailure } from './http.js';

export function routeOf(method: string, pathname: string): SimulatorRoute | undefined {
  if (method === 'POST' && pathname === '/v2/videos/generate') return 'submit';
  if (method === 'GET' && pathname === '/v2/jobs') return 'jobs';
  if (method === 'GET' && pathname.startsWith('/v2/jobs/')) return 'job';
  if (method === 'POST' && pathname === '/v2/uploads') return 'upload';
  if (method === 'POST' && pathname === '/v2/assets/create') return 'asset_create';
  if (method === 'GET' && pathname.startsWith('/v2/assets/')) return 'asset';
  if (method === 'GET' && pathname === '/v2/me') return 'me';
  if (method === 'GET' && pathname === '/v2/models') return 'models';
  if (method === 'GET' && pathname.startsWith('/files/')) return 'file';
  return undefined;
}

/** The job id of a `/v2/jobs/{id}` path. */
export function jobIdOf(pathname: string): string {
  return pathname.slice('/v2/jobs/'.length);
}

/** The asset id of a `/v2/assets/{id}` path; an id that is not valid percent-encoding is a 400, not a crash. */
export function assetIdOf(pathname: string): string {
  try {
    return decodeURIComponent(pathname.slice('/v2/assets/'.length));
  } catch {
    throw new HttpFailure(400, { error: 'Invalid asset id' });
  }
}
