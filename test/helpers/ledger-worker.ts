/**
 * A separate process that reserves videos in a shared SQLite ledger as fast as it can, printing each outcome: the
 * multi-process ledger tests run several, kill some mid-way, and set one's clock ahead.
 *
 * Arguments: ledger path, budget, name, count, and optionally a clock offset in ms. With an offset, the whole process
 * lives in that time (Date.now and new Date), as a machine whose clock is wrong would.
 */

import { WireSeedanceParams, wireBody } from '../../src/domain/params.js';
import { requestHash } from '../../src/domain/request-hash.js';
import { openSqliteLedger } from '../../src/ledger/index.js';

const [path = '', budget = '0', name = 'worker', count = '0', offset = '0'] = process.argv.slice(2);
const skew = Number(offset);
if (skew !== 0) {
  const RealDate = Date;
  const now = () => RealDate.now() + skew;
  globalThis.Date = class extends RealDate {
    constructor(...args: ConstructorParameters<typeof Date> | []) {
      if (args.length === 0) super(now());
      else super(...(args as ConstructorParameters<typeof Date>));
    }
    static override now(): number {
      return now();
    }
  } as DateConstructor;
}
const ledger = openSqliteLedger(path, { budgetLimit: Number(budget), period: 'total' });
const params = WireSeedanceParams.parse({ duration: 4, resolution: '480p' });
for (let i = 0; i < Number(count); i++) {
  const body = wireBody({ prompt: `${name} video ${i}`, params });
  const outcome = await ledger.reserve({
    requestHash: requestHash(body),
    request: body,
    estimate: {
      credits: 1,
      model: 'seedance-2',
      variant: '480p',
      creditsPerSecond: 0.25,
      duration: 4,
      source: 'published',
    },
    newJob: false,
  });
  process.stdout.write(`${outcome.kind}\n`);
}
await ledger.close();
