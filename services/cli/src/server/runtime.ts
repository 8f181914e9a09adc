/**
 * The parts one process runs (a nats-server, the event store, the relay, services), started in
 * order and stopped in the reverse order, each answering for its own readiness. `strata server`
 * and `strata service` both run one Runtime; the health endpoints read it.
 */

export interface ComponentStatus {
  readonly ready: boolean;
  /** What the component is doing ("leading", "head at position 12") or what is wrong. */
  readonly detail: string;
}

export interface Component {
  readonly name: string;
  /** Its readiness now. May throw or reject: that counts as not ready, with the message. */
  status(): ComponentStatus | Promise<ComponentStatus>;
  /** Stops it for good, letting work in progress finish. Called once. */
  stop(): Promise<void>;
}

export type Phase = 'starting' | 'running' | 'stopping' | 'stopped';

export interface ReadinessReport {
  readonly ready: boolean;
  readonly phase: Phase;
  /** Every component's status, in start order. */
  readonly checks: readonly ({ readonly name: string } & ComponentStatus)[];
  /** Names of what is not ready (components, or `startup`/`shutdown` outside the running phase). */
  readonly notReady: readonly string[];
}

/** Thrown by `add` when a stop was asked for while the component was starting. */
export class StopRequested extends Error {
  constructor() {
    super('stop requested during startup');
  }
}

const CHECK_TIMEOUT_MS = 2_000;

export class Runtime {
  private readonly components: Component[] = [];
  private currentPhase: Phase = 'starting';
  private stopAsked = false;
  private wake: () => void = () => undefined;
  /** Resolves when a stop is asked for (a signal): the owner then calls `stop()`. */
  readonly stopRequested: Promise<void> = new Promise((resolve) => {
    this.wake = resolve;
  });

  constructor(private readonly log: (line: string) => void) {}

  get phase(): Phase {
    return this.currentPhase;
  }

  /**
   * Starts a component and keeps it for readiness and shutdown. If a stop was asked for while it
   * started, it is kept (so `stop()` stops it) and StopRequested is thrown to end the startup.
   */
  async add<T extends Component>(start: () => Promise<T>): Promise<T> {
    if (this.stopAsked) throw new StopRequested();
    const component = await start();
    this.components.push(component);
    if (this.stopAsked) throw new StopRequested();
    return component;
  }

  markRunning(): void {
    if (this.currentPhase === 'starting') this.currentPhase = 'running';
  }

  requestStop(): void {
    this.stopAsked = true;
    this.wake();
  }

  get stopping(): boolean {
    return this.stopAsked;
  }

  async readiness(): Promise<ReadinessReport> {
    const checks = await Promise.all(
      this.components.map(async (component) => ({
        name: component.name,
        ...(await checkOf(component)),
      })),
    );
    const notReady = checks.filter((check) => !check.ready).map((check) => check.name);
    if (this.currentPhase === 'starting') notReady.unshift('startup');
    if (this.currentPhase === 'stopping' || this.currentPhase === 'stopped') {
      notReady.unshift('shutdown');
    }
    return { ready: notReady.length === 0, phase: this.currentPhase, checks, notReady };
  }

  /**
   * Stops every component, last started first, each after the one before it has finished.
   * A failure is logged and the others are still stopped. Returns false if any failed.
   */
  async stop(): Promise<boolean> {
    this.currentPhase = 'stopping';
    this.stopAsked = true;
    let clean = true;
    for (const component of this.components.splice(0).reverse()) {
      try {
        await component.stop();
        this.log(`stopped ${component.name}`);
      } catch (error) {
        clean = false;
        this.log(`failed to stop ${component.name}: ${(error as Error).message}`);
      }
    }
    this.currentPhase = 'stopped';
    return clean;
  }
}

async function checkOf(component: Component): Promise<ComponentStatus> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ComponentStatus>((resolve) => {
    timer = setTimeout(
      () => resolve({ ready: false, detail: `no answer within ${CHECK_TIMEOUT_MS} ms` }),
      CHECK_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([Promise.resolve().then(() => component.status()), timeout]);
  } catch (error) {
    return { ready: false, detail: (error as Error).message };
  } finally {
    clearTimeout(timer);
  }
}
