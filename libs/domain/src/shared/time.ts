import { DomainError } from './errors';

/**
 * Times enter the domain inside commands as RFC 3339 UTC strings, the proto3 JSON form of
 * google.protobuf.Timestamp (`2024-05-01T12:00:00.000Z`, what `Date#toISOString` prints), and
 * are stored in events as given. Deciders compare them through `parseTimestamp`, a pure
 * calendar computation: the domain never reads a clock and never uses `Date`.
 */
export type Timestamp = string;

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/;

/** Milliseconds since the Unix epoch; sub-millisecond digits are truncated. */
export function parseTimestamp(value: unknown, what: string): number {
  const match = typeof value === 'string' ? TIMESTAMP.exec(value) : null;
  if (match === null) {
    throw new DomainError(
      'InvalidTimestamp',
      `${what} must be an RFC 3339 UTC time like 2024-05-01T12:00:00.000Z, got ${JSON.stringify(value)}`,
    );
  }
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  const millis = Number((match[7] ?? '').padEnd(3, '0').slice(0, 3));
  if (
    year < 1 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth(year, month) ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    throw new DomainError(
      'InvalidTimestamp',
      `${what} ${JSON.stringify(value)} is not a valid time`,
    );
  }
  const days = daysFromCivil(year, month, day);
  return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra =
    yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}
