/** What is wrong with a credential, as a stable code (safe to log; never carries key material). */
export type CredentialsProblem =
  /** The file is not there (run `strata server` once to generate the set). */
  | 'Missing'
  /** The file exists but cannot be read, or is not a regular file. */
  | 'Unreadable'
  /** Group or others may read or write it: a secret must be 0600 in a 0700 directory. */
  | 'TooOpen'
  /** The content is not what it should be (not a user seed, not a 32-byte token, ...). */
  | 'Malformed'
  /** The name is not a known identity or a valid node name. */
  | 'UnknownIdentity';

/**
 * A credential that cannot be created or used. The message names the file and the problem and
 * never includes a seed or token, so it is safe to print.
 */
export class CredentialsError extends Error {
  constructor(
    readonly code: CredentialsProblem,
    message: string,
    /** The file concerned, when there is one. */
    readonly path?: string,
  ) {
    super(path === undefined ? message : `${path}: ${message}`);
  }

  override get name(): string {
    return `CredentialsError(${this.code})`;
  }
}
