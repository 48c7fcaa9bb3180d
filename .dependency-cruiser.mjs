/**
 * `npm run check` runs this on src/: the layer rules come from docs/layers.json, and the check refuses to run when
 * that list, the folders of src/ and the diagram of docs/ARCHITECTURE.md disagree.
 */
import { dependencyRules, layerDrift, readLayers } from './scripts/layers.mjs';

const drift = layerDrift();
if (drift.length > 0) throw new Error(`the layer list has drifted:\n${drift.join('\n')}`);

export default {
  forbidden: dependencyRules(readLayers()),
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a layer that needs another's types depends on it.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
