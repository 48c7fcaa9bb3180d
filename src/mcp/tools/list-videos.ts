import * as z from 'zod';
import { MAX_CURSOR_LENGTH } from '../../ledger/rules.js';
import { OPEN_STATUSES } from '../../ledger/types.js';
import { defineTool } from './define.js';
import { BudgetOutput, budgetOutput, ledgerStatus, VIDEO_STATUSES, videoStatus } from './shapes.js';

const PROMPT_EXCERPT = 80;

export const listVideosTool = defineTool({
  name: 'list_videos',
  title: 'List videos',
  description: 'Recent jobs, newest first, with status, cost, path. Free.',
  input: z.strictObject({
    status: z.enum(VIDEO_STATUSES).optional(),
    limit: z.int().min(1).max(50).default(10),
    // Where it comes from, the output's next_cursor says by its name.
    cursor: z.string().max(MAX_CURSOR_LENGTH).optional(),
  }),
  output: z.object({
    videos: z.array(
      z.object({
        job_id: z.string().nullable(),
        status: z.enum(VIDEO_STATUSES),
        created_at: z.string(),
        prompt: z.string(),
        credits: z.number(),
        charged: z.boolean(),
        path: z.string().nullable(),
      }),
    ),
    next_cursor: z.string().nullable(),
    budget: BudgetOutput,
  }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(args, ctx) {
    const { ledger } = ctx.services;
    const status = args.status === undefined ? undefined : ledgerStatus(args.status);
    const page = await ledger.list({
      limit: args.limit,
      ...(status === undefined ? {} : { status }),
      ...(args.cursor === undefined ? {} : { cursor: args.cursor }),
    });
    const videos = page.records.map((r) => ({
      job_id: r.jobId,
      status: videoStatus(r.status),
      created_at: r.createdAt,
      prompt:
        r.request.prompt.length > PROMPT_EXCERPT
          ? `${r.request.prompt.slice(0, PROMPT_EXCERPT - 1)}…`
          : r.request.prompt,
      credits: r.charged ?? (OPEN_STATUSES.has(r.status) ? (r.estimate?.credits ?? 0) : 0),
      charged: r.charged !== null,
      path: r.downloads.find((f) => f.kind === 'video')?.path ?? null,
    }));
    const budget = await ledger.budget();
    const lines = videos.map(
      (v) =>
        `${v.created_at.slice(0, 16)} ${v.status.padEnd(10)} ${String(v.credits).padStart(4)} cr  ${v.job_id ?? '(no id)'}  ${v.path ?? ''}  "${v.prompt}"`,
    );
    return {
      structured: { videos, next_cursor: page.nextCursor, budget: budgetOutput(budget) },
      text: videos.length === 0 ? 'No video jobs recorded yet.' : lines.join('\n'),
    };
  },
});
