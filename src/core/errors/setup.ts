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
