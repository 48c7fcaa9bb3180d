/** The server's own setup is wrong: only the user can fix it, by changing the environment and restarting. */
import { SeedanceError } from './base.js';

export class ConfigError extends SeedanceError {
  constructor(variable: string, message: string) {
    super('config_error', `${variable}: ${message}`, {
      recovery: `Fix ${variable} in the server's environment (the "env" block of the MCP client configuration) and restart the server.`,
      details: { variable },
    });
  }
}

export class MissingApiKeyError extends SeedanceError {
  constructor() {
    super('missing_api_key', 'APIFRAME_API_KEY is not set, so this server cannot reach Apiframe.', {
      recovery:
        'Set APIFRAME_API_KEY (an afk_... key from the Apiframe dashboard) in the "env" block of this MCP server\'s client configuration and restart it, or start the server with --simulate to try everything offline. estimate_cost works without a key.',
    });
  }
}

/** A client's configuration file that `init` or `doctor` cannot read or change safely: it is left as it was. */
export class ConfigFileError extends SeedanceError {
  constructor(path: string, problem: string) {
    super('config_file', `${path}: ${problem}`, {
      recovery: `Nothing was changed. Fix or move ${path}, or add the entry by hand (seedance-mcp init <client> --print shows it).`,
    });
  }
}

/** A command line of `seedance-mcp init` or `doctor` that does not parse; `usage` is the command's synopsis. */
export class UsageError extends SeedanceError {
  constructor(message: string, usage: string) {
    super('usage', message, { recovery: `Usage: ${usage}` });
  }
}
