import { constants } from 'node:os';

/**
 * Every failure of the addon, including invalid arguments (code 'EINVAL'), so callers handle one
 * error type. `op` names the operation ('load', 'map_update', 'xdp_attach', ...), `errno` is the
 * positive errno and `code` its name ('ENOENT', 'EPERM', 'ENOTSUPP', ...). `log` holds libbpf's
 * output for the failed operation (the verifier log when a load is rejected), when there was any.
 */
export class BpfError extends Error {
  override readonly name = 'BpfError';

  constructor(
    readonly op: string,
    readonly errno: number,
    readonly code: string,
    message: string,
    readonly log?: string,
  ) {
    super(message);
  }
}

/** Throws BpfError EINVAL for `op` with `detail`. */
export function invalid(op: string, detail: string): never {
  throw new BpfError(
    op,
    constants.errno.EINVAL,
    'EINVAL',
    `${op}: ${detail}: Invalid argument (EINVAL)`,
  );
}
