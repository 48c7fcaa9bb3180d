/**
 * The video player view (MCP Apps): runs in the host's sandboxed iframe, bundled inline into player.html at build
 * time with the ext-apps App bridge. It shows the result of generate_video or get_video: the video playing, the last
 * frame, the prompt, the cost and the budget left; while the job runs, its progress, refreshed by calling get_video
 * through the bridge. The media come from resources/read as data: URLs, or from the remote URL (whose origin the
 * resource's CSP declares) when the file is too large to be sent inline.
 */
import { App } from '@modelcontextprotocol/ext-apps';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { VideoOutput } from '../tools/shapes.js';

const RUNNING = new Set(['submitting', 'queued', 'processing']);
/** How long each get_video call waits while the job runs: short, so progress moves on screen. */
const REFRESH_WAIT_SECONDS = 2;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

const app = new App({ name: 'seedance-player', version: '1' });

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`player.html lacks #${id}`);
  return found as T;
}

const view = {
  status: element('status'),
  prompt: element('prompt'),
  cost: element('cost'),
  budget: element('budget'),
  progress: element<HTMLProgressElement>('progress'),
  video: element<HTMLVideoElement>('video'),
  frame: element<HTMLImageElement>('frame'),
  note: element('note'),
};

function textOf(result: CallToolResult): string {
  const first = result.content[0];
  return first?.type === 'text' ? first.text : '';
}

/** The result's structured content; when the host passed only the text, the job it names, asked again. */
async function videoOf(result: CallToolResult): Promise<VideoOutput | undefined> {
  const structured = result.structuredContent as VideoOutput | undefined;
  if (structured?.job_id !== undefined) return structured;
  const jobId = UUID.exec(textOf(result))?.[0];
  if (jobId === undefined) return undefined;
  const again = await app.callServerTool({
    name: 'get_video',
    arguments: { job_id: jobId, wait_seconds: 0 },
  });
  return again.structuredContent as VideoOutput | undefined;
}

/** The file as a data: URL from resources/read, or its remote URL when it is not served inline. */
async function mediaUrl(uri: string, remote: string | null): Promise<string | undefined> {
  try {
    const read = await app.readServerResource({ uri });
    const content = read.contents[0];
    if (content !== undefined && 'blob' in content)
      return `data:${content.mimeType ?? 'application/octet-stream'};base64,${content.blob}`;
  } catch (error) {
    view.note.textContent = `Inline media unavailable (${error instanceof Error ? error.message : String(error)}); using the remote file.`;
  }
  return remote ?? undefined;
}

function credits(out: VideoOutput): string {
  const { charged_credits: charged, estimated_credits: estimated } = out.cost;
  if (charged !== null) return `${charged} credits charged`;
  if (estimated !== null) return `${estimated} credits estimated`;
  return 'cost not yet reported';
}

let shown: string | undefined;

async function render(out: VideoOutput): Promise<void> {
  view.status.textContent = `${out.status}${out.simulated ? ' (simulated)' : ''}`;
  view.status.dataset.status = out.status;
  view.prompt.textContent = out.prompt;
  view.cost.textContent = credits(out);
  view.budget.textContent =
    out.budget === null ? 'no budget set' : `budget left ${out.budget.remaining} of ${out.budget.limit}`;
  const running = RUNNING.has(out.status);
  view.progress.hidden = !running;
  view.progress.value = out.progress ?? 0;
  if (out.status === 'failed' || out.status === 'cancelled') view.note.textContent = out.failure ?? '';
  if (out.job_id === null || out.status !== 'completed' || shown === out.job_id) return;
  shown = out.job_id;
  const base = `seedance://jobs/${out.job_id}`;
  const [video, frame] = await Promise.all([
    out.video === null
      ? Promise.resolve(out.remote_url ?? undefined)
      : mediaUrl(`${base}/video`, out.remote_url),
    out.last_frame === null
      ? Promise.resolve(out.remote_last_frame_url ?? undefined)
      : mediaUrl(`${base}/last-frame`, out.remote_last_frame_url),
  ]);
  if (frame !== undefined) {
    view.frame.src = frame;
    view.frame.hidden = false;
    view.video.poster = frame;
  }
  if (video !== undefined) {
    view.video.src = video;
    view.video.hidden = false;
  }
  document.body.dataset.ready = 'true';
}

/** While the job runs, get_video through the bridge, until it ends. */
async function follow(first: VideoOutput): Promise<void> {
  let out = first;
  await render(out);
  while (out.job_id !== null && RUNNING.has(out.status)) {
    const next = await app.callServerTool({
      name: 'get_video',
      arguments: { job_id: out.job_id, wait_seconds: REFRESH_WAIT_SECONDS },
    });
    const structured = next.structuredContent as VideoOutput | undefined;
    if (structured === undefined) {
      view.note.textContent = textOf(next);
      return;
    }
    out = structured;
    await render(out);
  }
}

app.ontoolresult = (result) => {
  void videoOf(result)
    .then((out) => (out === undefined ? undefined : follow(out)))
    .catch((error: unknown) => {
      view.note.textContent = error instanceof Error ? error.message : String(error);
    });
};

void app.connect();
