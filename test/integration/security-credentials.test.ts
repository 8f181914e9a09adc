import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AUTH_CONFIG_FILE,
  CredentialsError,
  HTTP_TOKEN_FILE,
  SERVICES,
  generateCredentials,
  loadCredentials,
  loadHttpToken,
} from '@strata/bus';

// The files `strata server` leaves in .strata/credentials: who gets one, their modes, what a
// second start or a new node changes, and how a damaged file is reported.

describe('generated credentials', () => {
  let root: string;
  let dir: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'strata-creds-'));
    dir = join(root, '.strata', 'credentials');
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes one seed per identity, the token and the server config, owner-only', async () => {
    const set = await generateCredentials(dir, { nodes: ['node-1'] });

    expect(set.identities).toEqual([...SERVICES, 'relay', 'admin', 'agent-node-1']);
    expect((await readdir(dir)).sort()).toEqual(
      [
        ...set.identities.map((identity) => `${identity}.nk`),
        AUTH_CONFIG_FILE,
        HTTP_TOKEN_FILE,
      ].sort(),
    );
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    for (const name of await readdir(dir)) {
      expect({ name, mode: (await stat(join(dir, name))).mode & 0o777 }).toEqual({
        name,
        mode: 0o600,
      });
    }
    expect(await readFile(set.authConfigPath, 'utf8')).toBe(set.authConfig);
    expect(Buffer.from(await loadHttpToken(dir), 'base64url')).toHaveLength(32);
  });

  it('keeps an existing set on the next start and only adds a new node', async () => {
    const first = await generateCredentials(dir, { nodes: ['node-1'] });
    const keysBefore = await publicKeys(dir, first.identities);
    const tokenBefore = await loadHttpToken(dir);

    const again = await generateCredentials(dir);
    expect(again.identities).toEqual(first.identities);
    expect(again.authConfig).toBe(first.authConfig);
    expect(await loadHttpToken(dir)).toBe(tokenBefore);

    const grown = await generateCredentials(dir, { nodes: ['node-2.rack-1'] });
    expect(grown.identities).toEqual([...first.identities, 'agent-node-2.rack-1']);
    expect(await publicKeys(dir, first.identities)).toEqual(keysBefore);
    expect(grown.authConfig).toContain('# agent-node-2.rack-1');
    expect(grown.authConfig).toContain((await loadCredentials(dir, 'agent-node-1')).publicKey);
    expect(await loadHttpToken(dir)).toBe(tokenBefore);
  });

  it('gives two concurrent first starts the same set', async () => {
    const [a, b] = await Promise.all([
      generateCredentials(dir, { nodes: ['node-1'] }),
      generateCredentials(dir, { nodes: ['node-1'] }),
    ]);
    expect(a.authConfig).toBe(b.authConfig);
    expect(await readFile(a.authConfigPath, 'utf8')).toBe(a.authConfig);
    expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('tightens a credentials directory that others could read', async () => {
    await generateCredentials(dir);
    await chmod(dir, 0o755);
    await generateCredentials(dir);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });

  describe('reading a damaged set', () => {
    beforeEach(async () => {
      await generateCredentials(dir, { nodes: ['node-1'] });
    });

    it('names a missing file', async () => {
      await rm(join(dir, 'ipam.nk'));
      await expectProblem(loadCredentials(dir, 'ipam'), 'Missing', join(dir, 'ipam.nk'));
    });

    it('refuses a seed that others can read', async () => {
      await chmod(join(dir, 'ipam.nk'), 0o644);
      await expectProblem(loadCredentials(dir, 'ipam'), 'TooOpen', join(dir, 'ipam.nk'), '0644');
    });

    it('refuses a corrupted seed without printing it', async () => {
      const path = join(dir, 'config.nk');
      const seed = (await readFile(path, 'utf8')).trim();
      // Same alphabet and length, one character changed: only the checksum can tell.
      const corrupted = `${seed.slice(0, 10)}${seed[10] === 'A' ? 'B' : 'A'}${seed.slice(11)}`;
      await writeFile(path, `${corrupted}\n`, { mode: 0o600 });
      const error = await expectProblem(loadCredentials(dir, 'config'), 'Malformed', path);
      expect(error.message).not.toContain(corrupted);
      expect(error.message).not.toContain(seed.slice(2, 20));
    });

    it('refuses a file that is not a user seed', async () => {
      const path = join(dir, 'relay.nk');
      await writeFile(path, 'password123\n', { mode: 0o600 });
      const error = await expectProblem(loadCredentials(dir, 'relay'), 'Malformed', path);
      expect(error.message).not.toContain('password123');
    });

    it('refuses a damaged token', async () => {
      const path = join(dir, HTTP_TOKEN_FILE);
      await writeFile(path, 'short\n', { mode: 0o600 });
      await expectProblem(loadHttpToken(dir), 'Malformed', path);
      await expectProblem(generateCredentials(dir), 'Malformed', path);
    });

    it('refuses unknown identities and node names that are not DNS names', async () => {
      await expectProblem(loadCredentials(dir, 'billing'), 'UnknownIdentity');
      await expectProblem(loadCredentials(dir, 'agent-Node_1'), 'UnknownIdentity');
      await expectProblem(generateCredentials(dir, { nodes: ['a..b'] }), 'UnknownIdentity');
      await writeFile(join(dir, 'stranger.nk'), 'x\n', { mode: 0o600 });
      await expectProblem(generateCredentials(dir), 'UnknownIdentity', join(dir, 'stranger.nk'));
    });
  });
});

async function publicKeys(dir: string, identities: readonly string[]): Promise<string[]> {
  return Promise.all(identities.map(async (id) => (await loadCredentials(dir, id)).publicKey));
}

async function expectProblem(
  promise: Promise<unknown>,
  code: CredentialsError['code'],
  path?: string,
  detail?: string,
): Promise<CredentialsError> {
  const error = await promise.then(
    () => {
      throw new Error(`expected CredentialsError(${code})`);
    },
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(CredentialsError);
  const problem = error as CredentialsError;
  expect({ code: problem.code, path: problem.path }).toEqual({ code, path });
  if (path !== undefined) {
    expect(problem.message).toContain(path);
  }
  if (detail !== undefined) {
    expect(problem.message).toContain(detail);
  }
  return problem;
}
