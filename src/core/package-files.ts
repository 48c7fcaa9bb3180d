/**
 * Files shipped beside the code (the simulator's video fixture, the demo's sample image), found by walking up from
 * this module: the same lookup works from src/ under tests and from the bundle in dist/.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'assets', 'sim-video-16x9.mp4'))) {
      root = dir;
      return dir;
    }
    dir = dirname(dir);
  }
  throw new Error('seedance-mcp: cannot find its assets folder; the installation is incomplete');
}

export function packageAsset(name: string): string {
  return join(packageRoot(), 'assets', name);
}
