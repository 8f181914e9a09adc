import type { NativeRingBuffer } from './bindings';
import { binding } from './bindings';
import type { BpfMap } from './map';

/**
 * Consumer of a BPF_MAP_TYPE_RINGBUF map. onRecord gets each record as its own Buffer. It holds
 * its own reference to the map, so it keeps working after the map's object is closed. One
 * poll() or consume() at a time (else BpfError EBUSY).
 */
export class RingBuffer {
  readonly #native: NativeRingBuffer;
  readonly #onRecord: (record: Buffer) => void;

  constructor(map: BpfMap, onRecord: (record: Buffer) => void) {
    this.#native = new (binding().RingBuffer)(map.fd);
    this.#onRecord = onRecord;
  }

  /**
   * Waits up to timeoutMs (0: no wait) for records in an async worker, delivers them and
   * returns how many. close() ends a wait early (resolving 0). Occupies a libuv pool thread
   * while waiting.
   */
  async poll(timeoutMs: number): Promise<number> {
    return this.#deliver(await this.#native.poll(timeoutMs));
  }

  /** Delivers the records available now, without waiting; returns how many. */
  consume(): number {
    return this.#deliver(this.#native.consume());
  }

  /** Idempotent. */
  close(): void {
    this.#native.close();
  }

  /** Every record reaches onRecord even if one call throws; the first error is rethrown after. */
  #deliver(records: readonly Buffer[]): number {
    let failure: { error: unknown } | undefined;
    for (const record of records) {
      try {
        this.#onRecord(record);
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
    return records.length;
  }
}
