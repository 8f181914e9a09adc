import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { CliError } from './errors';

/**
 * The small JSON state files the CLI keeps (server.json, lab.json): written atomically (a
 * temporary file, then rename), so a reader never sees half of one.
 */
export async function writeJsonFile(path: string, value: unknown, mode: number): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, `${JSON.stringify(value, null, 2)}\n`, { mode, flag: 'wx' });
  await rename(temp, path);
}

/**
 * The parsed file, unchecked (the caller validates its shape), or undefined when it does not
 * exist. Unreadable or not JSON: CliError, with `hint` said after "is not JSON".
 */
export async function readJsonFile<T>(path: string, hint = ''): Promise<Partial<T> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError('Unreadable', `cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as Partial<T>;
  } catch {
    throw new CliError('Malformed', `${path} is not JSON${hint}`);
  }
}
