/**
 * The services as one member sees them (HTTP mode): the same process-wide objects, with a ledger that reads and
 * writes only that member's jobs. Their budget is the one reported when they have one of their own (the server-wide
 * cap is still checked in every reservation); another member's job is as unknown as one that never existed.
 */
import { NotFoundError } from '../core/errors.js';
import type { Ledger, MemberScope } from '../ledger/types.js';
import type { Services } from './services.js';

function memberLedger(ledger: Ledger, member: MemberScope): Ledger {
  // Read at each call: the member's budget may change while their session is open (the members file is re-read).
  const ownBudget = () => (member.budgetLimit === null ? undefined : member);
  return {
    reserve: (request) => ledger.reserve({ ...request, member }),
    budget: (scope) => ledger.budget(scope ?? ownBudget()),
    health: () => ledger.health(),
    learnedRates: () => ledger.learnedRates(),
    markSubmitted: (key, jobId) => ledger.markSubmitted(key, jobId),
    markRejected: (key, reason) => ledger.markRejected(key, reason),
    updateJob: (jobId, update) => ledger.updateJob(jobId, update),
    async recordDiscovered(jobId, update, name) {
      const record = await ledger.recordDiscovered(jobId, update, name ?? member.name);
      // A job already recorded keeps its member: if that is someone else, this member learns nothing of it.
      if (record.member !== member.name)
        throw new NotFoundError({ operation: 'GET /v2/jobs/{id}', status: 404 }, `job ${jobId} not found`);
      return record;
    },
    claimDownload: (jobId) => ledger.claimDownload(jobId),
    recordDownload: (jobId, files) => ledger.recordDownload(jobId, files),
    releaseDownload: (jobId) => ledger.releaseDownload(jobId),
    findByJobId: (jobId, name) => ledger.findByJobId(jobId, name ?? member.name),
    findByKey: (key) => ledger.findByKey(key),
    list: (query) => ledger.list({ ...query, member: member.name }),
    adoptOrphans: () => ledger.adoptOrphans(),
    getUpload: (sha256, kind) => ledger.getUpload(sha256, kind),
    putUpload: (entry) => ledger.putUpload(entry),
    // A member's tasks are theirs alone, whoever the caller names.
    createTask: (task) => ledger.createTask({ ...task, member: member.name }),
    getTask: (taskId) => ledger.getTask(taskId, member.name),
    listTasks: (_name, limit, cursor) => ledger.listTasks(member.name, limit, cursor),
    cancelTask: (taskId, _name, message) => ledger.cancelTask(taskId, member.name, message),
    storeTaskResult: (taskId, _name, result) => ledger.storeTaskResult(taskId, member.name, result),
    close: () => ledger.close(),
  };
}

export function servicesFor(services: Services, member: MemberScope | undefined): Services {
  if (member === undefined) return services;
  return { ...services, ledger: memberLedger(services.ledger, member) };
}
