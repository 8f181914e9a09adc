import type { Labels } from '@strata/domain';
import { sha256 } from './sha256';

/**
 * Source identities and interface names: small deterministic functions of an endpoint's
 * labels and uid, so every node derives the same values from the same events.
 */

/**
 * Maps an endpoint's labels to its source identity: the 16-bit group policy id stamped into
 * VXLAN-GBP. Must be pure. 0 means "unknown" (the dataplane treats it as the world identity).
 */
export type IdentityFunction = (labels: Labels) => number;

export const UNKNOWN_IDENTITY = 0;
export const MAX_IDENTITY = 0xffff;

/**
 * A stand-in until the identity allocator (a later issue) assigns identity numbers through the
 * log: FNV-1a-32 of the canonical label set, folded into 1-65535. Equal label sets get equal
 * identities on every node; distinct sets may collide (16 bits), which the allocator will fix.
 */
export function placeholderIdentity(labels: Labels): number {
  let hash = 0x811c9dc5;
  // Length-prefixed, so no choice of keys and values can make two label sets hash alike.
  for (const key of Object.keys(labels).sort()) {
    const value = labels[key];
    hash = fnv1a(hash, `${key.length}:${key}${value.length}:${value}`);
  }
  return 1 + (hash % MAX_IDENTITY);
}

/** `identityOf(labels)` when it is an integer 0-65535, else UNKNOWN_IDENTITY. */
export function safeIdentity(identityOf: IdentityFunction, labels: Labels): number {
  const identity = identityOf(labels);
  return Number.isInteger(identity) && identity >= 0 && identity <= MAX_IDENTITY
    ? identity
    : UNKNOWN_IDENTITY;
}

function fnv1a(hash: number, text: string): number {
  let h = hash;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
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
