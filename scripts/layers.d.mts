/** Types of scripts/layers.mjs, which stays plain JavaScript so that .dependency-cruiser.mjs can load it. */
export interface Layers {
  stack: string[];
  beside: Record<string, { imports: string[]; importedBy: string[] }>;
}
export function readLayers(root?: string): Layers;
export function layerNames(layers: Layers): string[];
export function diagramEntries(markdown: string): string[];
export function layerDrift(root?: string): string[];
export function dependencyRules(layers: Layers): Record<string, unknown>[];
