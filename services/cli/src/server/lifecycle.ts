import { describeError } from '../errors';
import { HealthServer } from './health';
import { Runtime, StopRequested } from './runtime';

const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

export interface RunOptions {
  readonly healthPort: number;
  readonly log: (line: string) => void;
  /** Starts the components (each through `runtime.add`); resolves once all of them run. */
  readonly start: (runtime: Runtime, health: HealthServer) => Promise<void>;
  /** Runs once everything is up and /readyz can answer 200. */
  readonly onReady: (health: HealthServer) => void;
  /** Prometheus text served at GET /metrics, when given. */
  readonly metrics?: () => string;
  /** Runs after every component stopped, before the health endpoints close. */
  readonly afterStop?: () => Promise<void>;
}

/**
 * One long-running CLI process (`strata server`, `strata service`): health endpoints first, then
 * the components; on SIGTERM, SIGINT or SIGHUP, the components stop in reverse order (services
 * stop taking requests and let the ones in progress reply, the relay releases its lease, the
 * store closes, a nats-server started here stops last). A second signal exits at once.
 * Resolves with the exit code: 0 after a clean stop, 1 when starting or stopping failed.
 */
export async function runUntilSignalled(options: RunOptions): Promise<number> {
  const { log } = options;
  const runtime = new Runtime(log);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals === 1) {
      log(`${signal}: stopping (send it again to exit at once)`);
      runtime.requestStop();
    } else {
      log(`${signal}: exiting without a clean stop`);
      process.exit(130);
    }
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);

  let exitCode = 0;
  let health: HealthServer | undefined;
  try {
    health = await HealthServer.start(
      options.healthPort,
      () => runtime.readiness(),
      options.metrics,
    );
    await options.start(runtime, health);
    runtime.markRunning();
    options.onReady(health);
    await runtime.stopRequested;
  } catch (error) {
    if (!(error instanceof StopRequested)) {
      console.error(describeError(error));
      exitCode = 1;
    }
  }
  if (!(await runtime.stop())) exitCode = 1;
  try {
    await options.afterStop?.();
  } catch (error) {
    console.error(describeError(error));
    exitCode = 1;
  }
  await health?.close();
  for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  return exitCode;
}
