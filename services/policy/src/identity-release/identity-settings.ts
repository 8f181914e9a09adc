import { MAX_ALLOCATED_IDENTITY, MIN_ALLOCATED_IDENTITY } from '@strata/domain';

/** How the policy service hands out and takes back identities (docs/policy.md). */
export interface IdentitySettings {
  /**
   * How long an identity no endpoint holds is kept before it is released (its number may then
   * go to another label set). Longer than any acquire-to-append gap. Default 60 s.
   */
  readonly releaseGraceMs: number;
  /** The highest number handed out (default 65535); tests lower it to run out on purpose. */
  readonly lastIdentity: number;
  /** The service's clock, ms since the Unix epoch. Default: the system clock. */
  readonly now: () => number;
}

export const DEFAULT_IDENTITY_SETTINGS: IdentitySettings = {
  releaseGraceMs: 60_000,
  lastIdentity: MAX_ALLOCATED_IDENTITY,
  now: () => Date.now(),
};

/** Injection token of the IdentitySettings. */
export const IDENTITY_SETTINGS = Symbol.for('strata.policy.identity-settings');

/** The defaults with `given` applied; RangeError for a setting out of range. */
export function identitySettings(given: Partial<IdentitySettings> = {}): IdentitySettings {
  const settings = { ...DEFAULT_IDENTITY_SETTINGS, ...given };
  if (!Number.isInteger(settings.releaseGraceMs) || settings.releaseGraceMs < 0) {
    throw new RangeError(`releaseGraceMs must be an integer >= 0, got ${settings.releaseGraceMs}`);
  }
  if (
    !Number.isInteger(settings.lastIdentity) ||
    settings.lastIdentity < MIN_ALLOCATED_IDENTITY ||
    settings.lastIdentity > MAX_ALLOCATED_IDENTITY
  ) {
    throw new RangeError(
      `lastIdentity must be an integer ${MIN_ALLOCATED_IDENTITY}-${MAX_ALLOCATED_IDENTITY}, got ${settings.lastIdentity}`,
    );
  }
  return settings;
}
