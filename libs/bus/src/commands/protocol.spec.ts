import { describe, expect, it } from '@jest/globals';
import { decodeBody, isCommandReply, MalformedBody, parseCommand } from './protocol';
import { object, string, ValidationError } from './schema';

const spec = { request: object({ owner: string() }) };
const body = (text: string) => decodeBody(Buffer.from(text, 'utf8'));

function codeOf(parse: () => unknown): string {
  try {
    parse();
  } catch (error) {
    return (error as ValidationError).code;
  }
  return 'none';
}

describe('command protocol', () => {
  it('decodes JSON, and anything else into a MalformedBody instead of throwing', () => {
    expect(body('{"a":1}')).toEqual({ a: 1 });
    expect(body('nope')).toBeInstanceOf(MalformedBody);
    expect(decodeBody(new Uint8Array())).toBeInstanceOf(MalformedBody);
  });

  it('parses the envelope, defaulting actor and correlation id', () => {
    expect(parseCommand(spec, { commandId: 'c-1', data: { owner: 'pod-1' } })).toEqual({
      commandId: 'c-1',
      actor: '',
      correlationId: 'c-1',
      data: { owner: 'pod-1' },
    });
    expect(
      parseCommand(spec, {
        commandId: 'c-1',
        actor: 'user:alice',
        correlationId: 'k-9',
        data: { owner: 'pod-1' },
      }),
    ).toMatchObject({ actor: 'user:alice', correlationId: 'k-9' });
  });

  it('tells malformed payloads, unknown fields and invalid requests apart', () => {
    expect(codeOf(() => parseCommand(spec, body('nope')))).toBe('MalformedPayload');
    expect(codeOf(() => parseCommand(spec, [1]))).toBe('MalformedPayload');
    expect(codeOf(() => parseCommand(spec, null))).toBe('MalformedPayload');
    expect(codeOf(() => parseCommand(spec, { commandId: 'c', data: { owner: 'p' }, x: 1 }))).toBe(
      'UnknownField',
    );
    expect(codeOf(() => parseCommand(spec, { commandId: 'c', data: { owner: 'p', x: 1 } }))).toBe(
      'UnknownField',
    );
    expect(codeOf(() => parseCommand(spec, { data: { owner: 'p' } }))).toBe('InvalidRequest');
    expect(codeOf(() => parseCommand(spec, { commandId: '', data: { owner: 'p' } }))).toBe(
      'InvalidRequest',
    );
    expect(codeOf(() => parseCommand(spec, { commandId: 'a b', data: { owner: 'p' } }))).toBe(
      'InvalidRequest',
    );
    expect(codeOf(() => parseCommand(spec, { commandId: 'c', data: { owner: 3 } }))).toBe(
      'InvalidRequest',
    );
  });

  it('recognises replies', () => {
    expect(isCommandReply({ ok: true, data: null })).toBe(true);
    expect(isCommandReply({ ok: false, error: { code: 'X', message: 'y' } })).toBe(true);
    expect(isCommandReply({ ok: true })).toBe(false);
    expect(isCommandReply({ ok: false, error: { code: 1 } })).toBe(false);
    expect(isCommandReply({ response: 1, id: 'x' })).toBe(false);
  });
});
