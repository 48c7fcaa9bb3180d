/**
 * Apiframe's model catalog (`GET /v2/models`, public): which models of the family it lists, and each one's cost range.
 * Read at start and daily, kept in the state folder so a restart has it at once, and never waited for: a call uses
 * whatever is known, and a catalog that cannot be read leaves the last one in place.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ApiframeClient } from '../apiframe/client.js';
import { type ModelCatalog, ModelCatalogSchema } from '../apiframe/schemas.js';
import { log } from '../core/log.js';
import { MODELS, type Model } from '../domain/params.js';

const DAY_MS = 24 * 60 * 60 * 1000;
export const CATALOG_FILE = 'catalog.json';

export class CatalogCache {
  private catalog: ModelCatalog | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The first read from Apiframe, settled whatever its outcome: tests await it; calls never do. */
  readonly firstRead: Promise<void>;

  constructor(
    private readonly client: ApiframeClient,
    /** Where the catalog is kept; undefined keeps it in memory only (simulate mode). */
    private readonly file: string | undefined,
  ) {
    this.catalog = this.readCached();
    this.firstRead = this.refresh();
    this.timer = setInterval(() => void this.refresh(), DAY_MS).unref();
  }

  /** The family's models the catalog lists, or null before any catalog is known. */
  available(): Model[] | null {
    const listed = this.catalog?.models;
    if (listed === undefined) return null;
    return MODELS.filter((m) => listed.some((entry) => entry.id === m));
  }

  /** The most a second may cost per model: `costMax` of the models the catalog prices per second. */
  bounds(): Partial<Record<Model, number>> {
    const bounds: Partial<Record<Model, number>> = {};
    for (const entry of this.catalog?.models ?? []) {
      const model = MODELS.find((m) => m === entry.id);
      const costMax = entry.costMax;
      if (model === undefined || entry.pricingMode !== 'per-second') continue;
      if (costMax === undefined || !Number.isFinite(costMax) || costMax <= 0) continue;
      bounds[model] = costMax;
    }
    return bounds;
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private readCached(): ModelCatalog | undefined {
    if (this.file === undefined) return undefined;
    try {
      const parsed = ModelCatalogSchema.safeParse(JSON.parse(readFileSync(this.file, 'utf8')));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  private async refresh(): Promise<void> {
    try {
      this.catalog = await this.client.videoModels();
      if (this.file === undefined) return;
      await mkdir(dirname(this.file), { recursive: true });
      const partial = `${this.file}.${process.pid}.tmp`;
      await writeFile(partial, JSON.stringify(this.catalog));
      await rename(partial, this.file);
    } catch (error) {
      log.warn('could not read the model catalog; keeping the last one', { error: String(error) });
    }
  }
}
