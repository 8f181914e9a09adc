import { DomainError } from '../shared/errors';

export type Protocol = 'TCP' | 'UDP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP'];

/** A TCP/UDP port number 1-65535; throws InvalidPort naming `what`. */
export function assertPort(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new DomainError(
      'InvalidPort',
      `${what} must be an integer 1-65535, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

export function assertProtocol(value: unknown, what: string): Protocol {
  if (!PROTOCOLS.includes(value as Protocol)) {
    throw new DomainError(
      'InvalidPort',
      `${what} must be TCP or UDP, got ${JSON.stringify(value)}`,
    );
  }
  return value as Protocol;
}
