/**
 * A separate process that reserves videos in a shared file ledger as fast as it can, printing each outcome: the
 * multi-process ledger test runs several and kills some mid-way.
 */

import { WireSeedanceParams, wireBody } from '../../src/domain/params.js';
import { requestHash } from '../../src/domain/request-hash.js';
import { openFileLedger } from '../../src/ledger/index.js';

const [dir = '', budget = '0', name = 'worker', count = '0'] = process.argv.slice(2);
const ledger = await openFileLedger(dir, { budgetLimit: Number(budget), period: 'total' });
const params = WireSeedanceParams.parse({ duration: 4, resolution: '480p' });
for (let i = 0; i < Number(count); i++) {
  const body = wireBody({ prompt: `${name} video ${i}`, params });
  const outcome = await ledger.reserve({
    requestHash: requestHash(body),
    request: body,
    estimate: { credits: 1, variant: '480p', creditsPerSecond: 0.25, duration: 4 },
    newJob: false,
  });
  process.stdout.write(`${outcome.kind}\n`);
}
await ledger.close();
