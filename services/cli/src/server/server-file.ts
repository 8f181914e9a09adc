import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CliError } from '../errors';
import { readJsonFile, writeJsonFile } from '../json-file';

/**
 * `<data-dir>/server.json`: how the CLI finds a running `strata server` (its NATS URL, its
 * health URL, its PID). Written once the server is ready, removed when it stops cleanly; a file
 * left by a crash names a PID that is gone and URLs that do not answer, which the CLI reports.
 */

/** The data directory `strata server` and the CLI use when none is given. */
export const DEFAULT_DATA_DIR = '.strata';
export const SERVER_FILE = 'server.json';
/** Inside the data directory: the generated credentials, the event log, NATS's JetStream files. */
export const CREDENTIALS_SUBDIR = 'credentials';
export const STORE_FILE = 'events.db';
export const NATS_SUBDIR = 'nats';

export interface ServerInfo {
  /** The `strata server` process. */
  readonly pid: number;
  readonly natsUrl: string;
  /** The nats-server it started; null when it uses one given with `--nats`. */
  readonly natsPid: number | null;
  /** Base URL of /healthz and /readyz. */
  readonly healthUrl: string;
  readonly dataDir: string;
  readonly credentialsDir: string;
  readonly storePath: string;
  /** The services it runs, beside the relay. */
  readonly services: readonly string[];
  readonly startedAt: string;
}

export function serverFilePath(dataDir: string): string {
  return join(dataDir, SERVER_FILE);
}

/** Writes the file atomically (temp file, then rename), so a reader never sees half of it. */
export async function writeServerInfo(dataDir: string, info: ServerInfo): Promise<void> {
  await writeJsonFile(serverFilePath(dataDir), info, 0o644);
}

/** The running server's info, or undefined when there is no file. */
export async function readServerInfo(dataDir: string): Promise<ServerInfo | undefined> {
  const path = serverFilePath(dataDir);
  const info = await readJsonFile<ServerInfo>(path, '; remove it if no server is running');
  if (info === undefined) return undefined;
  if (
    !Number.isSafeInteger(info.pid) ||
    typeof info.natsUrl !== 'string' ||
    typeof info.healthUrl !== 'string'
  ) {
    throw new CliError('Malformed', `${path} lacks pid, natsUrl or healthUrl`);
  }
  return info as ServerInfo;
}

/** Removes the file if it still describes process `pid` (a newer server may have replaced it). */
export async function removeServerInfo(dataDir: string, pid: number): Promise<void> {
  const info = await readServerInfo(dataDir).catch(() => undefined);
  if (info?.pid === pid) {
    await unlink(serverFilePath(dataDir)).catch(() => undefined);
  }
}
