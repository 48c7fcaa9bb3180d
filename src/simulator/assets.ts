/** `POST /v2/assets/create` and `GET /v2/assets/{id}`: assets that activate, or fail, on the clock. */
import { randomBytes } from 'node:crypto';
import * as z from 'zod';
import { MEDIA_KINDS } from '../domain/params.js';
import { assetStatus } from './clock.js';
import { HttpFailure, zodDetails } from './http.js';
import { FAILURE_MARKER, type SimAsset, type SimState } from './state.js';

const CreateAssetBody = z.strictObject({ url: z.url({ protocol: /^https?$/ }), type: z.enum(MEDIA_KINDS) });

export function createAsset(state: SimState, body: unknown, apiKey: string) {
  const parsed = CreateAssetBody.safeParse(body);
  if (!parsed.success)
    throw new HttpFailure(400, { error: 'Validation failed', details: zodDetails(parsed.error) });
  const asset: SimAsset = {
    id: `asset-${randomBytes(10).toString('hex')}`,
    apiKey,
    url: parsed.data.url,
    type: parsed.data.type,
    createdAt: state.now(),
    willFail: parsed.data.url.toLowerCase().includes(FAILURE_MARKER),
  };
  state.assets.set(asset.id, asset);
  return { assetId: asset.id };
}

export function assetJson(state: SimState, id: string, apiKey: string) {
  const asset = state.assets.get(id);
  if (asset === undefined || asset.apiKey !== apiKey)
    throw new HttpFailure(404, { error: 'Asset not found' });
  const status = assetStatus(state, asset);
  return {
    id: asset.id,
    status,
    type: asset.type,
    url: asset.url,
    errorMsg: status === 'Failed' ? 'The provider could not fetch or decode the file (simulated)' : null,
  };
}
