/**
 * The process side of the server, built once and shared by every session: the services (client, ledger, prices,
 * job feed, simulator), the pickup of jobs left in flight by a dead process, and shutdown. Transports build one
 * MCP server per session over it (mcp/server.ts `buildServer(app, session)`).
 */
import { log } from '../core/log.js';
import type { Config } from './config.js';
import { createServices, type ServiceOverrides, type Services } from './services.js';
import type { TransportKind } from './session.js';

export interface App {
  services: Services;
  /**
   * Aborted when the process starts to drain: every call still waiting stops and hands back its job_id; the jobs go
   * on upstream and stay open in the ledger, where the next process picks them up.
   */
  draining: AbortSignal;
  drain(): void;
  /** Follows to the end the jobs an earlier process left in flight (once a transport is up). */
  pickUpOrphans(): void;
  close(): Promise<void>;
}

/** `transport`: the kind of every session this process will serve (HTTP guards what remote members make it fetch). */
export async function startApp(
  config: Config,
  overrides: ServiceOverrides = {},
  transport: TransportKind = 'stdio',
): Promise<App> {
  const services = await createServices(config, overrides, transport);
  const drain = new AbortController();
  return {
    services,
    draining: drain.signal,
    drain: () => drain.abort(),
    pickUpOrphans() {
      if (config.apiKey === undefined && !config.simulate) return;
      void services.jobs
        .adoptOrphans()
        .catch((error: unknown) => log.warn('could not take over earlier work', { error: String(error) }));
    },
    close: () => services.close(),
  };
}
