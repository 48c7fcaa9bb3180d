// The stdio end-to-end tests run the built binary, so the suite builds it first, exactly as `npm run build` does.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
}
