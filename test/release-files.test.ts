/**
 * manifest.json and server.json are generated (npm run release-files) and must match the code; server.json must be
 * what the MCP registry accepts; package.json, manifest.json and server.json name one version.
 */
import { describe, expect, it } from 'vitest';
import {
  committedBundleSha256,
  MANIFEST_PATH,
  readPackageJson,
  renderManifest,
  renderServerJson,
  SERVER_JSON_PATH,
  SERVER_SCHEMA_URL,
} from '../scripts/release-files.js';

import { readJson, SERVER_SCHEMA, validateServerJson } from './helpers/registry.js';

describe('release files', () => {
  it('manifest.json is generated from package.json, the settings and the tools (npm run release-files)', () => {
    expect(readJson(MANIFEST_PATH), 'manifest.json is stale: run npm run release-files').toEqual(
      renderManifest(),
    );
  });

  it('server.json is generated too, keeping the sha256 npm run bundle wrote', () => {
    expect(readJson(SERVER_JSON_PATH), 'server.json is stale: run npm run release-files').toEqual(
      renderServerJson(committedBundleSha256()),
    );
  });

  it('server.json is valid against the registry schema kept in schemas/, and follows the registry rules', () => {
    expect(SERVER_SCHEMA.$id).toBe(SERVER_SCHEMA_URL);
    const serverJson = readJson(SERVER_JSON_PATH);
    expect(validateServerJson(serverJson)).toEqual([]);
    expect(serverJson.$schema).toBe(SERVER_SCHEMA_URL);
    expect((serverJson.description as string).length).toBeLessThanOrEqual(100);
    expect(serverJson.name).toBe(readPackageJson().mcpName);
    expect(serverJson.version).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
  });

  it('a server.json breaking the schema is caught (the check can fail)', () => {
    const broken = { ...readJson(SERVER_JSON_PATH), name: 'no slash here' };
    expect(validateServerJson(broken).join('\n')).toMatch(/\/name must match pattern/);
  });

  it('the key is a secret of the npm package; the .mcpb is a second package with its sha256', () => {
    const packages = readJson(SERVER_JSON_PATH).packages as {
      registryType: string;
      identifier: string;
      fileSha256?: string;
      environmentVariables?: { name: string; isSecret?: boolean }[];
    }[];
    const npm = packages.find((p) => p.registryType === 'npm');
    expect(npm?.identifier).toBe('seedance-mcp');
    const secrets = npm?.environmentVariables?.filter((v) => v.isSecret === true).map((v) => v.name);
    expect(secrets).toEqual(['APIFRAME_API_KEY']);
    const mcpb = packages.find((p) => p.registryType === 'mcpb');
    expect(mcpb?.fileSha256).toMatch(/^[a-f0-9]{64}$/);
    expect(mcpb?.identifier).toMatch(/\/seedance-mcp-\d+\.\d+\.\d+[^/]*\.mcpb$/);
  });

  it('package.json, manifest.json and server.json (both packages) name one version', () => {
    const version = readPackageJson().version;
    const manifest = readJson(MANIFEST_PATH);
    const serverJson = readJson(SERVER_JSON_PATH);
    const packageVersions = (serverJson.packages as { version: string; identifier: string }[]).map(
      (p) => p.version,
    );
    expect({ manifest: manifest.version, server: serverJson.version, packages: packageVersions }).toEqual({
      manifest: version,
      server: version,
      packages: [version, version],
    });
    const mcpb = (serverJson.packages as { identifier: string }[])[1]?.identifier;
    expect(mcpb).toContain(`/v${version}/seedance-mcp-${version}.mcpb`);
  });
});
