/**
 * Names for downloaded files: readable (date, a slug of the prompt, the job id) and safe on every OS: no path
 * separators, no characters Windows refuses, no reserved device names, bounded length.
 */
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])$/i;
const SLUG_MAX = 48;

function promptSlug(prompt: string): string {
  const words = prompt
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
  let slug = '';
  for (const word of words) {
    const next = slug === '' ? word : `${slug}-${word}`;
    if (next.length > SLUG_MAX) break;
    slug = next;
  }
  if (slug === '') slug = (words[0] ?? '').slice(0, SLUG_MAX);
  return slug === '' || WINDOWS_RESERVED.test(slug) ? 'video' : slug;
}

/** `2026-11-24_a-red-kite-over-a-hill_3f2a9c1b`: the date is the job's creation day in UTC. */
export function outputBaseName(prompt: string, jobId: string, createdAt: Date): string {
  const day = createdAt.toISOString().slice(0, 10);
  const id = jobId.replace(/[^A-Za-z0-9]/g, '').slice(0, 8) || 'job';
  return `${day}_${promptSlug(prompt)}_${id}`;
}
