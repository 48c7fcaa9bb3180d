/** The tools this server offers, in the order clients list them. */
import type { Config } from '../../app/config.js';
import type { ToolDefinition } from './define.js';
import { estimateCostTool } from './estimate-cost.js';
import { generateVideoTool } from './generate-video.js';
import { getVideoTool } from './get-video.js';
import { listVideosTool } from './list-videos.js';
import { uploadAssetTool } from './upload-asset.js';

export function buildTools(config: Pick<Config, 'waitSeconds' | 'maxWaitSeconds'>): ToolDefinition[] {
  const wait = { waitSeconds: config.waitSeconds, maxWaitSeconds: config.maxWaitSeconds };
  return [
    generateVideoTool(wait),
    estimateCostTool,
    uploadAssetTool,
    getVideoTool(wait),
    listVideosTool,
  ] as unknown as ToolDefinition[];
}
