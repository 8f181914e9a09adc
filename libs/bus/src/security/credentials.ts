import { randomBytes } from 'node:crypto';
import {
  chmod,
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  rename,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import {
  connect,
  nkeyAuthenticator,
  nkeys,
  type Authenticator,
  type ConnectionOptions,
  type NatsConnection,
} from 'nats';
import { renderAuthConfig, type PublicIdentity } from './auth-config';
import { CredentialsError } from './errors';
import {
  identitiesFor,
  inboxPrefix,
  parseIdentity,
  RELAY,
  SERVICES,
  ADMIN,
  type Identity,
} from './permissions';

/**
 * The credentials `strata server` generates on first start and every process then reads:
 *
 *   <dir>/                  0700
 *     <identity>.nk         0600  the identity's nkey seed (`SU...`), one line
 *     http-token            0600  the HTTP API's bearer token (32 random bytes, base64url)
 *     nats-auth.conf        0600  the server's `authorization` block (public keys + grants)
 *
 * Generation is idempotent: what exists is loaded and checked, only what is missing is created
 * (a new node's agent identity is added beside the others), and each file appears atomically and
 * at most once even when two processes generate at the same time.
 */

export const DEFAULT_CREDENTIALS_DIR = '.strata/credentials';
export const AUTH_CONFIG_FILE = 'nats-auth.conf';
export const HTTP_TOKEN_FILE = 'http-token';

const SEED_SUFFIX = '.nk';
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
const TOKEN_BYTES = 32;
// A user seed: 58 base32 characters starting with S (seed) then U (user).
const USER_SEED = /^SU[A-Z2-7]{56}$/;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export interface GenerateCredentialsOptions {
  /** Nodes whose agents get an identity (`agent-<node>`), beside any already generated. */
  readonly nodes?: readonly string[];
}

export interface CredentialSet {
  readonly dir: string;
  /** Every identity in the directory, services first, agents last. */
  readonly identities: readonly Identity[];
  /** The server's authorization block; pass it as `NatsServerProcess.start({ config })`. */
  readonly authConfig: string;
  readonly authConfigPath: string;
  readonly httpTokenPath: string;
}

/** What a client needs to connect as one identity. Holds no printable secret. */
export interface IdentityCredentials {
  readonly identity: Identity;
  readonly publicKey: string;
  /** Signs the server's nonce with the identity's seed. */
  readonly authenticator: Authenticator;
  /** The only inbox prefix this identity may subscribe to; requests must use it. */
  readonly inboxPrefix: string;
}

/** Creates what is missing in `dir` and returns the whole set. */
export async function generateCredentials(
  dir: string = DEFAULT_CREDENTIALS_DIR,
  options: GenerateCredentialsOptions = {},
): Promise<CredentialSet> {
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  // mkdir's mode is filtered by the umask and ignored for an existing directory.
  await chmod(dir, DIR_MODE);
  const wanted = new Set<Identity>([
    ...identitiesFor(options.nodes ?? []),
    ...(await existingIdentities(dir)),
  ]);
  const identities = [...wanted].sort(byRole);
  const keys: PublicIdentity[] = [];
  for (const identity of identities) {
    keys.push({ identity, publicKey: await ensureSeed(dir, identity) });
  }
  const httpTokenPath = join(dir, HTTP_TOKEN_FILE);
  await createOnce(httpTokenPath, `${randomBytes(TOKEN_BYTES).toString('base64url')}\n`);
  await loadHttpToken(dir);
  const authConfig = renderAuthConfig(keys);
  const authConfigPath = join(dir, AUTH_CONFIG_FILE);
  await replaceIfChanged(authConfigPath, authConfig);
  return { dir, identities, authConfig, authConfigPath, httpTokenPath };
}

/** Reads and checks one identity's seed. Throws CredentialsError (never showing the seed). */
export async function loadCredentials(
  dir: string,
  identity: Identity | string,
): Promise<IdentityCredentials> {
  const id = parseIdentity(identity);
  const { seed, publicKey } = await readSeed(seedPath(dir, id));
  return {
    identity: id,
    publicKey,
    authenticator: nkeyAuthenticator(seed),
    inboxPrefix: inboxPrefix(id),
  };
}

/** Reads and checks the HTTP API's bearer token. */
export async function loadHttpToken(dir: string = DEFAULT_CREDENTIALS_DIR): Promise<string> {
  const path = join(dir, HTTP_TOKEN_FILE);
  const token = (await readSecret(path)).trimEnd();
  if (!TOKEN.test(token)) {
    throw new CredentialsError('Malformed', 'not a 32-byte base64url token', path);
  }
  return token;
}

export interface ConnectAsOptions extends Omit<ConnectionOptions, 'authenticator' | 'inboxPrefix'> {
  /** The credentials directory. Default `.strata/credentials`. */
  readonly dir?: string;
}

/**
 * Connects to NATS as `identity` with its seed and inbox prefix. The server refuses a wrong seed
 * with an authorization violation (a NatsError with code AUTHORIZATION_VIOLATION).
 */
export async function connectAs(
  identity: Identity | string,
  options: ConnectAsOptions = {},
): Promise<NatsConnection> {
  const { dir = DEFAULT_CREDENTIALS_DIR, ...connection } = options;
  const credentials = await loadCredentials(dir, identity);
  return connect({
    name: `strata-${credentials.identity}`,
    ...connection,
    authenticator: credentials.authenticator,
    inboxPrefix: credentials.inboxPrefix,
  });
}

function seedPath(dir: string, identity: Identity): string {
  return join(dir, `${identity}${SEED_SUFFIX}`);
}

/** The identities whose seed files are already in `dir`. */
async function existingIdentities(dir: string): Promise<Identity[]> {
  const names = await readdir(dir);
  return names
    .filter((name) => name.endsWith(SEED_SUFFIX))
    .map((name) => {
      try {
        return parseIdentity(name.slice(0, -SEED_SUFFIX.length));
      } catch (error) {
        throw new CredentialsError('UnknownIdentity', (error as Error).message, join(dir, name));
      }
    });
}

/** Creates the identity's seed unless it exists; returns its public key either way. */
async function ensureSeed(dir: string, identity: Identity): Promise<string> {
  const path = seedPath(dir, identity);
  const pair = nkeys.createUser();
  await createOnce(path, `${new TextDecoder().decode(pair.getSeed())}\n`);
  pair.clear();
  return (await readSeed(path)).publicKey;
}

async function readSeed(path: string): Promise<{ seed: Uint8Array; publicKey: string }> {
  const text = (await readSecret(path)).trimEnd();
  if (!USER_SEED.test(text)) {
    throw new CredentialsError('Malformed', 'not an nkey user seed (SU...)', path);
  }
  const seed = new TextEncoder().encode(text);
  try {
    // The pair keeps (and `clear()` zeroes) the array it is given: give it a copy.
    const pair = nkeys.fromSeed(seed.slice());
    const publicKey = pair.getPublicKey();
    pair.clear();
    return { seed, publicKey };
  } catch {
    // The library's message may describe the key; only say that it is not valid.
    throw new CredentialsError('Malformed', 'not a valid nkey seed (checksum or encoding)', path);
  }
}

/** A secret's text, once its file is known to be a regular file only its owner can access. */
async function readSecret(path: string): Promise<string> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    throw fileError(error, path);
  }
  if (!stats.isFile()) {
    throw new CredentialsError('Unreadable', 'not a regular file', path);
  }
  if ((stats.mode & 0o077) !== 0) {
    throw new CredentialsError(
      'TooOpen',
      `mode ${(stats.mode & 0o777).toString(8).padStart(4, '0')} lets others access it; expected 0600`,
      path,
    );
  }
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw fileError(error, path);
  }
}

/**
 * Writes `content` to `path` unless the file exists. The content goes to a private temp file
 * first and is hard-linked into place, so the file appears complete and only once.
 */
async function createOnce(path: string, content: string): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, content, { mode: FILE_MODE, flag: 'wx' });
  try {
    await link(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw fileError(error, path);
    }
  } finally {
    await unlink(temp);
  }
}

/** Atomically replaces `path` with `content` when it differs (or is missing). */
async function replaceIfChanged(path: string, content: string): Promise<void> {
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === content) {
    await chmod(path, FILE_MODE);
    return;
  }
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, content, { mode: FILE_MODE, flag: 'wx' });
  await rename(temp, path);
}

function fileError(error: unknown, path: string): CredentialsError {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT'
    ? new CredentialsError(
        'Missing',
        'no such file (run `strata server` once to generate it)',
        path,
      )
    : new CredentialsError('Unreadable', `cannot read it (${code ?? String(error)})`, path);
}

const ROLE_ORDER: readonly string[] = [...SERVICES, RELAY, ADMIN];

/** Services, relay and admin in their fixed order, then agents by node name. */
function byRole(a: Identity, b: Identity): number {
  const rank = (id: Identity) => {
    const index = ROLE_ORDER.indexOf(id);
    return index === -1 ? ROLE_ORDER.length : index;
  };
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}
