/** Why the config service cannot start, with a code the command line prints. */
export class ConfigStartError extends Error {
  constructor(
    message: string,
    /** MissingToken: no REST API token; InvalidArgument: a setting out of its range. */
    readonly code: 'MissingToken' | 'InvalidArgument' = 'MissingToken',
  ) {
    super(message);
  }
}
