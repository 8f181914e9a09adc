import { sha256 } from './sha256';

/**
 * Source identities as the events carry them, and interface names: small deterministic
 * functions, so every node derives the same values from the same events.
 */

export const UNKNOWN_IDENTITY = 0;
export const MAX_IDENTITY = 0xffff;

/**
 * An endpoint's identity as its event carries it (docs/policy.md): an integer 0-65535, else
 * UNKNOWN_IDENTITY (an event written before identities, or a malformed one).
 */
export function readIdentity(value: unknown): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_IDENTITY
    ? value
    : UNKNOWN_IDENTITY;
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
export const INTERFACE_PREFIX = 'st';
/** Linux IFNAMSIZ is 16 bytes including the terminating NUL. */
export const MAX_INTERFACE_NAME_LENGTH = 15;

/**
 * The host-side interface name of a local endpoint: `st` and 11 base32 characters (55 bits) of
 * SHA-256(uid), 13 characters in all. Deterministic, so a restarted agent finds its veths again.
 */
export function interfaceName(uid: string): string {
  const digest = sha256(uid);
  // 56 bits from the first 7 bytes; the top 55 become 11 base32 characters.
  let high = (digest[0] << 16) | (digest[1] << 8) | digest[2]; // 24 bits
  let low = ((digest[3] << 24) | (digest[4] << 16) | (digest[5] << 8) | digest[6]) >>> 0; // 32
  let name = '';
  for (let i = 0; i < 11; i++) {
    name += BASE32[high >>> 19];
    // Shift the 56-bit (high:low) pair left by 5 bits.
    high = ((high << 5) | (low >>> 27)) & 0xffffff;
    low = (low << 5) >>> 0;
  }
  return INTERFACE_PREFIX + name;
}
