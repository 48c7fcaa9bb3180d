/**
 * The simulated world on disk, for `--simulate`: jobs, assets, uploads, idempotency keys and credits survive a
 * restart, as they would at Apiframe, so that the server's ledger and the simulator keep agreeing. Written whole to a
 * temporary file and renamed into place, so that a crash leaves the previous world, never half of one.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { log } from '../core/log.js';
import type { SimAsset, SimJob, SimUpload } from './state.js';

export interface SimWorld {
  credits: number;
  jobs: Map<string, SimJob>;
  assets: Map<string, SimAsset>;
  uploads: Map<string, SimUpload>;
  idempotency: Map<string, { hash: string; jobId: string }>;
}

const VERSION = 1;

interface SavedWorld {
  version: typeof VERSION;
  credits: number;
  jobs: SimJob[];
  assets: SimAsset[];
  uploads: SimUpload[];
  idempotency: [string, { hash: string; jobId: string }][];
}

/** The world saved at `path`, or undefined when there is none (or it is unreadable: the simulator then starts afresh). */
export async function loadWorld(path: string): Promise<SimWorld | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const saved = JSON.parse(text) as SavedWorld;
    if (saved.version !== VERSION || !Array.isArray(saved.jobs))
      throw new Error(`unknown version ${saved.version}`);
    return {
      credits: saved.credits,
      jobs: new Map(saved.jobs.map((j) => [j.id, j])),
      assets: new Map(saved.assets.map((a) => [a.id, a])),
      uploads: new Map(saved.uploads.map((u) => [u.id, u])),
      idempotency: new Map(saved.idempotency),
    };
  } catch (error) {
    log.warn('the simulated world on disk is unreadable; starting a new one', { path, error: String(error) });
    return undefined;
  }
}

export async function saveWorld(path: string, world: SimWorld): Promise<void> {
  const saved: SavedWorld = {
    version: VERSION,
    credits: world.credits,
    jobs: [...world.jobs.values()],
    assets: [...world.assets.values()],
    uploads: [...world.uploads.values()],
    idempotency: [...world.idempotency],
  };
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, JSON.stringify(saved));
  await rename(temp, path);
}
