/** Assets the provider would not take, or not in time. */
import { type ErrorInit, SeedanceError } from './base.js';

export class AssetError extends SeedanceError {
  constructor(
    code: 'asset_failed' | 'asset_not_ready' | 'unknown_media_type',
    message: string,
    init: ErrorInit,
  ) {
    super(code, message, init);
  }
}
