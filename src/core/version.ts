import pkg from '../../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
export const USER_AGENT = `seedance-mcp/${VERSION} (node ${process.versions.node})`;
/** The oldest Node that runs the server ("22.13"), from package.json's `engines` (">=22.13"). */
export const REQUIRED_NODE: string = pkg.engines.node.replace(/^>=/, '');
export const HOMEPAGE: string = pkg.homepage;
