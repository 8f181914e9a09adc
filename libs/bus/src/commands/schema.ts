/**
 * A small validator for what arrives over the wire: structural schemas that parse `unknown`
 * into typed values, strictly. Objects reject unknown fields (UnknownField), every leaf checks
 * its type and bounds (InvalidRequest), and `refine` hands a value to a domain validator, whose
 * own typed error (InvalidId, InvalidIp, ...) goes through unchanged. Messages name the field's
 * path (`data.reserved[2].first`). No decorators, no reflection: the schema is the type.
 */

export type ValidationErrorCode = 'MalformedPayload' | 'InvalidRequest' | 'UnknownField';

export class ValidationError extends Error {
  constructor(
    readonly code: ValidationErrorCode,
    message: string,
    /** The offending field, e.g. `data.owner`; '' for the whole payload. */
    readonly path: string,
  ) {
    super(message);
  }

  override get name(): string {
    return this.code;
  }
}

export interface Schema<T> {
  /** Parses `value` found at `path`, or throws (ValidationError or the refiner's own error). */
  parse(value: unknown, path: string): T;
  /** Absent (undefined) is allowed: the field is optional in its object. */
  readonly optional?: boolean;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = {
  [K in keyof S]: S[K] extends { readonly optional: true } ? K : never;
}[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type InferShape<S extends Shape> = Simplify<
  { readonly [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & {
    readonly [K in OptionalKeys<S>]?: Infer<S[K]>;
  }
>;

function invalid(path: string, message: string): ValidationError {
  return new ValidationError('InvalidRequest', `${path || 'payload'} ${message}`, path);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  }
  return typeof value === 'object' ? 'an object' : String(value);
}

export interface StringOptions {
  readonly minLength?: number;
  /** Default 1024: nothing on the wire is longer. */
  readonly maxLength?: number;
}

export function string(options: StringOptions = {}): Schema<string> {
  const min = options.minLength ?? 0;
  const max = options.maxLength ?? 1024;
  return {
    parse(value, path) {
      if (typeof value !== 'string')
        throw invalid(path, `must be a string, got ${describe(value)}`);
      if (value.length < min || value.length > max) {
        throw invalid(path, `must be ${min}-${max} characters long, got ${value.length}`);
      }
      return value;
    },
  };
}

export function number(): Schema<number> {
  return {
    parse(value, path) {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw invalid(path, `must be a number, got ${describe(value)}`);
      }
      return value;
    },
  };
}

export function integer(options: { min?: number; max?: number } = {}): Schema<number> {
  const min = options.min ?? Number.MIN_SAFE_INTEGER;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  return {
    parse(value, path) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        throw invalid(path, `must be an integer ${min}-${max}, got ${describe(value)}`);
      }
      return value;
    },
  };
}

export function boolean(): Schema<boolean> {
  return {
    parse(value, path) {
      if (typeof value !== 'boolean')
        throw invalid(path, `must be true or false, got ${describe(value)}`);
      return value;
    },
  };
}

export function oneOf<const V extends readonly string[]>(values: V): Schema<V[number]> {
  return {
    parse(value, path) {
      if (typeof value !== 'string' || !values.includes(value)) {
        throw invalid(path, `must be one of ${values.join(', ')}, got ${describe(value)}`);
      }
      return value as V[number];
    },
  };
}

export function array<T>(item: Schema<T>, options: { maxItems?: number } = {}): Schema<T[]> {
  const max = options.maxItems ?? 1024;
  return {
    parse(value, path) {
      if (!Array.isArray(value)) throw invalid(path, `must be an array, got ${describe(value)}`);
      if (value.length > max)
        throw invalid(path, `must have at most ${max} items, got ${value.length}`);
      return value.map((element, i) => item.parse(element, `${path}[${i}]`));
    },
  };
}

/** A plain object with exactly these fields (optional ones may be absent); nothing else. */
export function object<S extends Shape>(shape: S): Schema<InferShape<S>> {
  const keys = Object.keys(shape);
  return {
    parse(value, path) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw invalid(path, `must be an object, got ${describe(value)}`);
      }
      const record = value as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        if (!Object.prototype.hasOwnProperty.call(shape, key)) {
          const where = path === '' ? key : `${path}.${key}`;
          throw new ValidationError(
            'UnknownField',
            `unknown field ${where}; expected ${keys.length === 0 ? 'no fields' : keys.join(', ')}`,
            where,
          );
        }
      }
      const parsed: Record<string, unknown> = {};
      for (const key of keys) {
        const where = path === '' ? key : `${path}.${key}`;
        const field = record[key];
        if (field === undefined) {
          if (shape[key].optional === true) continue;
          throw invalid(where, 'is required');
        }
        parsed[key] = shape[key].parse(field, where);
      }
      return parsed as InferShape<S>;
    },
  };
}

export function optional<T>(schema: Schema<T>): Schema<T> & { readonly optional: true } {
  return { parse: (value, path) => schema.parse(value, path), optional: true };
}

/**
 * `schema`, then `check` on its value: `check` returns the value to keep (possibly
 * normalised) or throws its own typed error (a domain validator's InvalidId, InvalidIp, ...).
 */
export function refine<T, U>(schema: Schema<T>, check: (value: T, path: string) => U): Schema<U> {
  return { parse: (value, path) => check(schema.parse(value, path), path) };
}
