/**
 * manifest.json (the Claude Desktop bundle's manifest, MCPB) and server.json (the MCP registry's entry) are generated
 * here from package.json, the settings (src/app/config.ts) and the tool definitions, so that none of them restates a
 * version, a description or a tool by hand. `npm run release-files` rewrites both; test/release-files.test.ts fails
 * when either is stale. The .mcpb's sha256 in server.json is the one `npm run bundle` computed (see scripts/bundle.ts).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from '../src/app/config.js';
import { BUDGET_PERIODS } from '../src/domain/budget.js';
import { toolListing } from '../src/mcp/server.js';
import { buildTools } from '../src/mcp/tools/index.js';
import { documentedConfig } from './readme.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const MANIFEST_PATH = `${ROOT}manifest.json`;
export const SERVER_JSON_PATH = `${ROOT}server.json`;
export const SERVER_SCHEMA_URL =
  'https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json';
/** The newest manifest version that @anthropic-ai/mcpb 2.1 validates. */
const MCPB_MANIFEST_VERSION = '0.4';
const APIFRAME_PRIVACY_POLICY = 'https://apiframe.ai/privacy-policy';

interface PackageJson {
  name: string;
  version: string;
  description: string;
  license: string;
  author: string;
  homepage: string;
  mcpName: string;
  keywords: string[];
  repository: { url: string };
  engines: { node: string };
}

export function readPackageJson(): PackageJson {
  return JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as PackageJson;
}

/** https://github.com/OWNER/NAME from package.json's repository URL. */
function repositoryUrl(pkg: PackageJson): string {
  return pkg.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
}

/** The .mcpb file `npm run bundle` writes, and where a release publishes it. */
export function bundleFileName(version: string): string {
  return `seedance-mcp-${version}.mcpb`;
}

/**
 * What a user chooses when installing: each entry is a user_config field of the bundle and an environment variable
 * of the registry entry, described by its setting.
 */
const USER_SETTINGS = [
  { key: 'api_key', setting: SETTINGS.apiKey, title: 'Apiframe API key', type: 'string', secret: true },
  { key: 'budget_credits', setting: SETTINGS.budgetCredits, title: 'Budget (credits)', type: 'number' },
  { key: 'budget_period', setting: SETTINGS.budgetPeriod, title: 'Budget period', type: 'string' },
  { key: 'output_dir', setting: SETTINGS.outputDir, title: 'Output folder', type: 'directory' },
  // One folder: a host substitutes a list of folders only into args, never into one environment variable.
  { key: 'allowed_dir', setting: SETTINGS.allowedDirs, title: 'Allowed folder', type: 'directory' },
  { key: 'simulate', setting: SETTINGS.simulate, title: 'Simulate (no key, no cost)', type: 'boolean' },
] as const;

/** Markdown code spans read badly in a settings dialog. */
function plain(text: string): string {
  return text.replace(/`/g, '');
}

export function renderManifest(): Record<string, unknown> {
  const pkg = readPackageJson();
  const repo = repositoryUrl(pkg);
  const tools = toolListing(buildTools(documentedConfig()));
  return {
    $schema: `https://raw.githubusercontent.com/anthropics/mcpb/main/schemas/mcpb-manifest-v${MCPB_MANIFEST_VERSION}.schema.json`,
    manifest_version: MCPB_MANIFEST_VERSION,
    name: pkg.name,
    display_name: 'Seedance 2.0 video (Apiframe)',
    version: pkg.version,
    description: pkg.description,
    author: { name: pkg.author, url: repo },
    repository: { type: 'git', url: repo },
    homepage: pkg.homepage,
    documentation: `${repo}#readme`,
    support: `${repo}/issues`,
    icon: 'assets/icon.png',
    icons: [{ src: 'assets/icon.png', size: '128x128' }],
    server: {
      type: 'node',
      entry_point: 'dist/cli.js',
      mcp_config: {
        command: 'node',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: substituted by the host
        args: ['${__dirname}/dist/cli.js'],
        env: Object.fromEntries(USER_SETTINGS.map((u) => [u.setting.name, `\${user_config.${u.key}}`])),
      },
    },
    tools: tools.map((t) => ({ name: t.name, description: t.description })),
    keywords: pkg.keywords,
    license: pkg.license,
    privacy_policies: [APIFRAME_PRIVACY_POLICY, `${repo}/blob/main/PRIVACY.md`],
    compatibility: {
      platforms: ['darwin', 'win32', 'linux'],
      // engines says ">=22.13"; hosts compare full versions.
      runtimes: { node: pkg.engines.node.replace(/^>=(\d+\.\d+)$/, '>=$1.0') },
    },
    user_config: Object.fromEntries(
      USER_SETTINGS.map((u) => [
        u.key,
        {
          type: u.type,
          title: u.title,
          description: plain(u.setting.description),
          required: false,
          ...('secret' in u ? { sensitive: true } : {}),
          ...(u.key === 'budget_credits' ? { min: 0 } : {}),
          ...(u.key === 'budget_period' ? { default: 'total' } : {}),
          ...(u.key === 'simulate' ? { default: false } : {}),
        },
      ]),
    ),
  };
}

export function renderServerJson(mcpbSha256: string): Record<string, unknown> {
  const pkg = readPackageJson();
  const repo = repositoryUrl(pkg);
  return {
    $schema: SERVER_SCHEMA_URL,
    name: pkg.mcpName,
    title: 'Seedance 2.0 video (Apiframe)',
    description:
      'Seedance 2.0 videos through Apiframe, with budgets, a spend ledger and cost in every result',
    version: pkg.version,
    websiteUrl: pkg.homepage,
    repository: { url: repo, source: 'github' },
    icons: [
      {
        src: `https://raw.githubusercontent.com/${new URL(repo).pathname.slice(1)}/v${pkg.version}/assets/icon.png`,
        mimeType: 'image/png',
        sizes: ['128x128'],
      },
    ],
    packages: [
      {
        registryType: 'npm',
        registryBaseUrl: 'https://registry.npmjs.org',
        identifier: pkg.name,
        version: pkg.version,
        runtimeHint: 'npx',
        transport: { type: 'stdio' },
        environmentVariables: USER_SETTINGS.map((u) => ({
          name: u.setting.name,
          description: plain(u.setting.description),
          format: u.type === 'directory' ? 'filepath' : u.type,
          isRequired: false,
          ...('secret' in u ? { isSecret: true } : {}),
          ...(u.key === 'budget_period' ? { choices: [...BUDGET_PERIODS], default: 'total' } : {}),
        })),
      },
      {
        registryType: 'mcpb',
        identifier: `${repo}/releases/download/v${pkg.version}/${bundleFileName(pkg.version)}`,
        version: pkg.version,
        fileSha256: mcpbSha256,
        transport: { type: 'stdio' },
      },
    ],
  };
}

/** The sha256 of the .mcpb as server.json says it now. */
export function committedBundleSha256(): string {
  const current = JSON.parse(readFileSync(SERVER_JSON_PATH, 'utf8')) as {
    packages: { registryType: string; fileSha256?: string }[];
  };
  const sha = current.packages.find((p) => p.registryType === 'mcpb')?.fileSha256;
  if (sha === undefined) throw new Error('server.json has no mcpb package with a fileSha256');
  return sha;
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(MANIFEST_PATH, json(renderManifest()));
  writeFileSync(SERVER_JSON_PATH, json(renderServerJson(committedBundleSha256())));
  process.stdout.write('manifest.json and server.json written\n');
}
