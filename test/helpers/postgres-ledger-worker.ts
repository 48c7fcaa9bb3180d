/**
 * A host that records a job in flight in a PostgreSQL ledger, says so, and waits to be killed: what a host that dies
 * mid-job leaves behind. Its owner names another machine, so that only its lease can tell it is gone.
 */
import { WireSeedanceParams, wireBody } from '../../src/domain/params.js';
import { estimate } from '../../src/domain/pricing.js';
import { requestHash } from '../../src/domain/request-hash.js';
import { openPostgresLedger } from '../../src/ledger/postgres-store.js';

const [url = ''] = process.argv.slice(2);
const ledger = await openPostgresLedger(url, {
  budgetLimit: null,
  period: 'total',
  owner: '1@a-host-that-dies',
  hostLeaseMs: 1_500,
});
const params = WireSeedanceParams.parse({ duration: 5, resolution: '720p' });
const body = wireBody({ prompt: 'a job whose host dies', params });
const outcome = await ledger.reserve({
  requestHash: requestHash(body),
  request: body,
  estimate: estimate(params),
  newJob: false,
});
if (outcome.kind !== 'reserved') throw new Error(`expected a reservation, got ${outcome.kind}`);
await ledger.markSubmitted(outcome.record.key, 'job-dies');
process.stdout.write('submitted job-dies\n');
setInterval(() => undefined, 60_000);
