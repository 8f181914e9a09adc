import { assertPort, assertProtocol } from './port';
import { assertVni } from './vni';

describe('ports and protocols', () => {
  it('accepts ports 1-65535', () => {
    expect(assertPort(1, 'port')).toBe(1);
    expect(assertPort(65535, 'port')).toBe(65535);
    for (const value of [0, 65536, 80.5, '80', NaN]) {
      expect(() => assertPort(value, 'target port')).toThrow(
        expect.objectContaining({
          code: 'InvalidPort',
          message: expect.stringMatching(/^target port must be/),
        }),
      );
    }
  });

  it('accepts TCP and UDP', () => {
    expect(assertProtocol('UDP', 'protocol')).toBe('UDP');
    expect(() => assertProtocol('tcp', 'protocol')).toThrow(/TCP or UDP/);
  });
});

describe('VNIs', () => {
  it('accepts 1-16777215', () => {
    expect(assertVni(1)).toBe(1);
    expect(assertVni(16_777_215)).toBe(16_777_215);
    for (const value of [0, 16_777_216, 1.5, '7']) {
      expect(() => assertVni(value)).toThrow(expect.objectContaining({ code: 'InvalidVni' }));
    }
  });
});
