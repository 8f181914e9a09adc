import { parseTimestamp } from './time';

describe('timestamps', () => {
  it('agrees with Date.parse on RFC 3339 UTC times, with 0-9 fraction digits', () => {
    for (const text of [
      '1970-01-01T00:00:00Z',
      '2000-02-29T23:59:59.999Z',
      '2024-05-01T12:00:00.000Z',
      '2100-03-01T00:00:00.5Z',
      '1969-12-31T23:59:59Z',
      '0001-01-01T00:00:00Z',
      '9999-12-31T23:59:59.123456789Z',
    ]) {
      expect(parseTimestamp(text, 'time')).toBe(Date.parse(text.replace(/(\.\d{3})\d+Z$/, '$1Z')));
    }
  });

  it('agrees with Date on every day of a leap and a common year', () => {
    for (let day = 0; day < 366 + 365; day++) {
      const iso = new Date(Date.UTC(2023, 0, 1 + day, 7, 8, 9, 10)).toISOString();
      expect(parseTimestamp(iso, 'time')).toBe(Date.parse(iso));
    }
  });

  it.each([
    '2024-05-01T12:00:00',
    '2024-05-01T12:00:00+02:00',
    '2024-05-01 12:00:00Z',
    '2024-02-30T00:00:00Z',
    '2023-02-29T00:00:00Z',
    '2024-13-01T00:00:00Z',
    '2024-05-01T24:00:00Z',
    '2024-05-01T12:60:00Z',
    '2024-05-01T12:00:60Z',
    '0000-01-01T00:00:00Z',
    '2024-05-01T12:00:00.1234567890Z',
    '',
  ])('rejects %j with InvalidTimestamp', (text) => {
    expect(() => parseTimestamp(text, 'heartbeat time')).toThrow(
      expect.objectContaining({
        code: 'InvalidTimestamp',
        message: expect.stringMatching(/^heartbeat time/),
      }),
    );
  });

  it('rejects values that are not strings', () => {
    expect(() => parseTimestamp(1714564800000, 'time')).toThrow(
      expect.objectContaining({ code: 'InvalidTimestamp' }),
    );
  });
});
