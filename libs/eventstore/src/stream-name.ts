import { InvalidStreamName } from './errors';

/**
 * Stream names are `<category>-<id>`: the category is a lowercase word (the aggregate kind),
 * the id is what follows the first dash. The alphabet is what every adapter can carry without
 * escaping (it maps 1:1 onto NATS subject tokens): letters, digits and `_ : = @ - .`, with dots
 * only between other characters. Non-ASCII names are rejected rather than normalised.
 */
const STREAM_NAME = /^([a-z][a-z0-9]{0,31})-([A-Za-z0-9_:=@-]+(?:\.[A-Za-z0-9_:=@-]+)*)$/;
export const MAX_STREAM_NAME_LENGTH = 200;

export interface StreamName {
  readonly category: string;
  readonly id: string;
}

export function parseStreamName(stream: unknown): StreamName {
  if (typeof stream !== 'string') {
    throw new InvalidStreamName(String(stream), 'not a string');
  }
  if (stream.length > MAX_STREAM_NAME_LENGTH) {
    throw new InvalidStreamName(stream, `longer than ${MAX_STREAM_NAME_LENGTH} characters`);
  }
  const match = STREAM_NAME.exec(stream);
  if (match === null) {
    throw new InvalidStreamName(
      stream,
      'expected <category>-<id>: a lowercase category, a dash, then letters, digits, _ : = @ - .',
    );
  }
  return { category: match[1], id: match[2] };
}

/** The category of a valid stream name (the part before the first dash). */
export function categoryOf(stream: string): string {
  return parseStreamName(stream).category;
}
