import { DomainError } from '../shared/errors';
import { isDnsSubdomain } from './dns';
import { isIpv4 } from './ipv4';
import { assertPort } from './port';

/**
 * The URL a federated cluster is reached at over NATS: a gateway (`nats://`, `tls://`) or a
 * leaf-node remote (`nats-leaf://`, `tls://`, `ws://`, `wss://`), as `scheme://host[:port]`
 * where the host is a DNS name or an IPv4 address. URLs go into events, which anyone reading the
 * log can see, so user info (`user:password@`) is rejected: credentials travel separately.
 * Returns the URL with scheme and host lowercased.
 */
export const NATS_URL_SCHEMES = ['nats', 'tls', 'nats-leaf', 'ws', 'wss'] as const;

const URL_SHAPE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/:?#]+)(?::([0-9]{1,5}))?$/;

export function parseNatsUrl(value: unknown, what = 'URL'): string {
  const text = typeof value === 'string' ? value : '';
  if (text.includes('@')) {
    throw new DomainError(
      'InvalidUrl',
      `${what} must not carry credentials (user@ or user:password@)`,
    );
  }
  const match = URL_SHAPE.exec(text);
  if (match === null) {
    throw new DomainError(
      'InvalidUrl',
      `${what} must look like nats://host:7222, got ${JSON.stringify(value)}`,
    );
  }
  const scheme = match[1].toLowerCase();
  const host = match[2].toLowerCase();
  if (!(NATS_URL_SCHEMES as readonly string[]).includes(scheme)) {
    throw new DomainError(
      'InvalidUrl',
      `${what} scheme must be one of ${NATS_URL_SCHEMES.join(', ')}, got ${scheme}`,
    );
  }
  if (!isIpv4(host) && !(isDnsSubdomain(host) && /[a-z]/.test(host))) {
    throw new DomainError(
      'InvalidUrl',
      `${what} host ${JSON.stringify(host)} is not a DNS name or IPv4 address`,
    );
  }
  if (match[3] === undefined) return `${scheme}://${host}`;
  try {
    assertPort(Number(match[3]), 'port');
  } catch {
    throw new DomainError('InvalidUrl', `${what} port ${match[3]} is not 1-65535`);
  }
  return `${scheme}://${host}:${Number(match[3])}`;
}
