import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CliError } from '../errors';
import type { ReadinessReport } from './runtime';

/**
 * The health endpoints of `strata server` and `strata service`, on loopback:
 * - GET /healthz: 200 while the process runs (liveness);
 * - GET /readyz: 200 when every component is ready, else 503; the JSON body is the report
 *   either way, its `notReady` naming what is not;
 * - GET /metrics: Prometheus text, where the process has metrics (the agent).
 */

export const DEFAULT_HEALTH_PORT = 7070;
const HOST = '127.0.0.1';

export class HealthServer {
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on 127.0.0.1:`port` (0 = any free port). */
  static async start(
    port: number,
    readiness: () => Promise<ReadinessReport>,
    metrics?: () => string,
  ): Promise<HealthServer> {
    const server = createServer((request, response) => {
      void answer(request, response, readiness, metrics);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        reject(
          error.code === 'EADDRINUSE'
            ? new CliError(
                'PortInUse',
                `health port ${HOST}:${port} is in use (another strata server? pass --health-port)`,
              )
            : error,
        );
      });
      server.listen(port, HOST, resolve);
    });
    return new HealthServer(server, (server.address() as AddressInfo).port);
  }

  get url(): string {
    return `http://${HOST}:${this.port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

async function answer(
  request: IncomingMessage,
  response: ServerResponse,
  readiness: () => Promise<ReadinessReport>,
  metrics: (() => string) | undefined,
): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  const served =
    metrics === undefined ? ['/healthz', '/readyz'] : ['/healthz', '/readyz', '/metrics'];
  if (!served.includes(path)) {
    return send(response, 404, { error: `no such endpoint ${path}; try ${served.join(' or ')}` });
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD');
    return send(response, 405, { error: `${request.method} not allowed` });
  }
  if (path === '/metrics' && metrics !== undefined) {
    const text = metrics();
    response.writeHead(200, {
      'Content-Type': 'text/plain; version=0.0.4',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
    });
    response.end(request.method === 'HEAD' ? undefined : text);
    return;
  }
  if (path === '/healthz') {
    return send(response, 200, { status: 'alive', pid: process.pid });
  }
  try {
    const report = await readiness();
    send(response, report.ready ? 200 : 503, report);
  } catch (error) {
    send(response, 503, { ready: false, notReady: ['readiness'], error: (error as Error).message });
  }
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  response.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  response.end(response.req.method === 'HEAD' ? undefined : text);
}
