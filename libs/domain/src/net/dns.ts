import { DomainError } from '../shared/errors';

/**
 * DNS names as Kubernetes validates them (RFC 1123): a label is 1-63 lowercase letters, digits
 * and '-', starting and ending with a letter or digit; a subdomain is labels joined by '.', at
 * most 253 characters. Segment, service and cluster names are labels; node names are
 * subdomains (a Kubernetes node name usually is the host's FQDN).
 */
const LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
export const MAX_DNS_SUBDOMAIN_LENGTH = 253;

export function isDnsLabel(value: unknown): value is string {
  return typeof value === 'string' && LABEL.test(value);
}

export function isDnsSubdomain(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length <= MAX_DNS_SUBDOMAIN_LENGTH &&
    value.split('.').every((label) => LABEL.test(label))
  );
}

export function assertDnsLabel(value: unknown, what: string): string {
  if (!isDnsLabel(value)) {
    throw new DomainError(
      'InvalidName',
      `${what} must be a DNS label (1-63 of a-z 0-9 -, starting and ending alphanumeric), got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

export function assertDnsSubdomain(value: unknown, what: string): string {
  if (!isDnsSubdomain(value)) {
    throw new DomainError(
      'InvalidName',
      `${what} must be a DNS subdomain (dot-separated DNS labels, at most 253 characters), got ${JSON.stringify(value)}`,
    );
  }
  return value;
}
