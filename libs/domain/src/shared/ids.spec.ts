import { DomainError, isDomainError } from './errors';
import { assertId } from './ids';

describe('ids', () => {
  it('accepts stream- and subject-safe ids, Kubernetes uids included', () => {
    for (const id of [
      'seg-1',
      'c0ffee00-0000-4000-8000-000000000001',
      'service:web',
      'a_b=c@d',
      'x'.repeat(128),
    ]) {
      expect(assertId(id, 'id')).toBe(id);
    }
  });

  it.each(['', 'a.b', 'a b', 'a/b', 'a*', 'a>', 'ä', 'x'.repeat(129)])(
    'rejects %j with InvalidId',
    (id) => {
      expect(() => assertId(id, 'segment id')).toThrow(
        expect.objectContaining({
          code: 'InvalidId',
          message: expect.stringMatching(/^segment id/),
        }),
      );
    },
  );

  it('rejects values that are not strings', () => {
    expect(() => assertId(undefined, 'segment id')).toThrow('segment id is required');
  });
});

describe('DomainError', () => {
  it('carries a stable code, shown as its name', () => {
    const error = new DomainError('PoolExhausted', 'pool pods has no free address');
    expect(isDomainError(error)).toBe(true);
    expect(error.name).toBe('PoolExhausted');
    expect(String(error)).toBe('PoolExhausted: pool pods has no free address');
    expect(isDomainError(new Error('x'))).toBe(false);
  });
});
