import { DomainError } from '../shared/errors';
import { isDnsSubdomain } from './dns';

/**
 * Kubernetes labels. A key is an optional prefix (a DNS subdomain, at most 253 characters) and
 * '/', then a name of at most 63 characters: alphanumerics, '-', '_' and '.', starting and ending
 * alphanumeric. A value is empty or follows the same rule as a name. Labels are held in
 * canonical form (keys sorted), so two equal label sets serialise identically.
 */
export type Labels = Readonly<Record<string, string>>;

const NAME = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
export const MAX_LABEL_NAME_LENGTH = 63;
export const MAX_LABEL_VALUE_LENGTH = 63;

/** Why `key` is not a valid label key, or undefined when it is. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length === 0 || !isDnsSubdomain(prefix))) {
    return `prefix ${JSON.stringify(prefix)} must be a DNS subdomain`;
  }
  if (name.length === 0 || name.length > MAX_LABEL_NAME_LENGTH) {
    return `name must be 1-${MAX_LABEL_NAME_LENGTH} characters`;
  }
  if (!NAME.test(name)) {
    return 'name may contain only alphanumerics, - _ . and must start and end alphanumeric';
  }
  return undefined;
}

/** Why `value` is not a valid label value, or undefined when it is. */
export function labelValueProblem(value: string): string | undefined {
  if (value.length > MAX_LABEL_VALUE_LENGTH) {
    return `must be at most ${MAX_LABEL_VALUE_LENGTH} characters`;
  }
  if (value.length > 0 && !NAME.test(value)) {
    return 'may contain only alphanumerics, - _ . and must start and end alphanumeric';
  }
  return undefined;
}

/** Validates a label map and returns it in canonical form; throws InvalidLabels. */
export function parseLabels(value: unknown, what = 'labels'): Labels {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DomainError('InvalidLabels', `${what} must be an object of string keys and values`);
  }
  const entries = Object.entries(value as Record<string, unknown>);
  for (const [key, labelValue] of entries) {
    const keyProblem = labelKeyProblem(key);
    if (keyProblem !== undefined) {
      throw new DomainError('InvalidLabels', `${what}: key ${JSON.stringify(key)}: ${keyProblem}`);
    }
    if (typeof labelValue !== 'string') {
      throw new DomainError('InvalidLabels', `${what}: value of ${key} must be a string`);
    }
    const valueProblem = labelValueProblem(labelValue);
    if (valueProblem !== undefined) {
      throw new DomainError(
        'InvalidLabels',
        `${what}: value ${JSON.stringify(labelValue)} of ${key} ${valueProblem}`,
      );
    }
  }
  return Object.fromEntries(
    (entries as [string, string][]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

export function labelsEqual(a: Labels, b: Labels): boolean {
  const aKeys = Object.keys(a);
  return aKeys.length === Object.keys(b).length && aKeys.every((key) => b[key] === a[key]);
}

/** Equality-based selection: every selector label is present with the same value. */
export function matchesSelector(labels: Labels, selector: Labels): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}
