import { InvalidArgumentError } from 'commander';

/**
 * Parsers for the flags several commands share. They throw commander's InvalidArgumentError, so
 * a bad value is reported (`strata: InvalidArgument: option '--x' argument 'y' is invalid. ...`)
 * before anything starts or any request is sent.
 */

export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^[0-9]{1,5}$/.test(value) || port > 65_535) {
    throw new InvalidArgumentError('a port is an integer from 0 to 65535 (0: any free port)');
  }
  return port;
}

const NATS_SCHEMES = ['nats:', 'tls:', 'ws:', 'wss:'];

/** One URL or several, comma-separated (a cluster): `nats://127.0.0.1:4222`. */
export function parseNatsUrls(value: string): string[] {
  const urls = value
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  if (urls.length === 0) throw new InvalidArgumentError('give at least one NATS URL');
  for (const url of urls) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new InvalidArgumentError(`${url} is not a URL like nats://127.0.0.1:4222`);
    }
    if (!NATS_SCHEMES.includes(parsed.protocol) || parsed.hostname === '') {
      throw new InvalidArgumentError(`${url} is not a URL like nats://127.0.0.1:4222`);
    }
    if (parsed.username !== '' || parsed.password !== '') {
      throw new InvalidArgumentError('credentials do not go in the URL (they come from files)');
    }
  }
  return urls;
}

export function parseNonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('must not be empty');
  return value;
}
