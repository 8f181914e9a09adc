import { CredentialsError } from '@strata/bus';
import { CommanderError } from 'commander';

/**
 * An error the CLI reports as `strata: <Code>: <message>` with a non-zero exit: a bad flag, no
 * server to talk to, a refused connection. Codes are single words, stable, safe to script on.
 */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  override get name(): string {
    return this.code;
  }
}

// A stable error code (DomainError, EventStoreError, CommandTransportError, CliError ...), as
// opposed to a Node errno (ENOENT) or a library's constant (CONNECTION_REFUSED).
const CODE = /^[A-Z][a-z][A-Za-z]*$/;

/**
 * The one line printed for a failure: `strata: <Code>: <message>` when the error carries a
 * stable code, the stack otherwise (that is a bug, and the stack is what helps fixing it).
 */
export function describeError(error: unknown): string {
  if (error instanceof CommanderError) {
    return `strata: InvalidArgument: ${stripCommanderPrefix(error.message)}`;
  }
  if (error instanceof CredentialsError) {
    // Its codes (Missing, TooOpen, ...) only make sense with the subject in front.
    return `strata: Credentials${error.code}: ${error.message}`;
  }
  const coded = error as { code?: unknown } | null;
  if (error instanceof Error && typeof coded?.code === 'string' && CODE.test(coded.code)) {
    return `strata: ${coded.code}: ${error.message}`;
  }
  return `strata: ${(error as Error)?.stack ?? String(error)}`;
}

/** Commander's own messages ("error: missing required argument 'name'") in the CLI's format. */
export function formatCommanderOutput(text: string): string {
  return text.startsWith('error: ')
    ? `strata: InvalidArgument: ${stripCommanderPrefix(text)}`
    : text;
}

function stripCommanderPrefix(message: string): string {
  return message.replace(/^error: /, '');
}

const REFUSED_CREDENTIALS = [
  'AUTHORIZATION_VIOLATION',
  'BAD_AUTHENTICATION',
  'AUTHENTICATION_EXPIRED',
];
const UNREACHABLE = ['CONNECTION_REFUSED', 'CONNECTION_TIMEOUT', 'DISCONNECT'];

/**
 * A failed NATS connect as a CliError: `Unauthorized` (the server refused the credentials, or
 * wanted some), `Unreachable` (nothing answers at `url`). `credentials` says what was presented;
 * `hint` what to do about a refusal. Any other error is returned as it is.
 */
export function natsConnectError(
  error: unknown,
  url: string,
  credentials: string | undefined,
  hint: string,
): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return error;
  if (REFUSED_CREDENTIALS.includes(code)) {
    return new CliError(
      'Unauthorized',
      credentials === undefined
        ? `NATS at ${url} requires credentials and none were given (${hint})`
        : `NATS at ${url} refused ${credentials} (${hint})`,
      { cause: error },
    );
  }
  if (UNREACHABLE.includes(code)) {
    return new CliError(
      'Unreachable',
      `cannot reach NATS at ${url} (${(error as Error).message})`,
      { cause: error },
    );
  }
  return error;
}
