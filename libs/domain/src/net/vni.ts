import { DomainError } from '../shared/errors';

/** VXLAN network identifiers are 24 bits; 0 is left unused. */
export const MIN_VNI = 1;
export const MAX_VNI = 16_777_215;

export function assertVni(value: unknown, what = 'VNI'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < MIN_VNI || value > MAX_VNI) {
    throw new DomainError(
      'InvalidVni',
      `${what} must be an integer ${MIN_VNI}-${MAX_VNI}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}
