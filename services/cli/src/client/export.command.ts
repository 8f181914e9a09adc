import { HISTORY, readExportSnapshot, type ExportPage } from '@strata/bus';
import type { Command } from 'commander';
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { checkRequest, clientCommand, type ClientOptions } from './options';
import { withSession } from './session';

type ExportOptions = ClientOptions & { from: string; to: string; file?: string };

/** The first line of an incident file; then one `{"event": ...}` line per event; then digests. */
export const INCIDENT_FORMAT = 'strata-incident';
export const INCIDENT_VERSION = 1;

/**
 * `strata export --from T1 --to T2 > incident.strata`: a slice of history for `strata sandbox`
 * — the facts at T1 (a fold snapshot, good for any node), every event up to T2, and each
 * node's digest at T2 — as JSON lines, read page by page from the analytics service.
 */
export function registerExportCommand(program: Command): void {
  clientCommand(program, 'export', 'a slice of history as an incident file, for `strata sandbox`')
    .requiredOption('--from <moment>', 'a log position, or an RFC 3339 UTC time')
    .requiredOption('--to <moment>', 'a log position, or an RFC 3339 UTC time')
    .option('--file <path>', 'write here instead of standard output')
    .action(async (options: ExportOptions) => {
      const window = checkRequest(HISTORY.export, { from: options.from, to: options.to });
      const out = options.file === undefined ? process.stdout : createWriteStream(options.file);
      const summary = await withSession(options, async (session) => {
        const ask = (request: typeof window) => session.execute(HISTORY.export, request);
        const first = await readExportSnapshot(ask, window);
        let page: ExportPage = first.page;
        await line(out, {
          format: INCIDENT_FORMAT,
          version: INCIDENT_VERSION,
          from: page.from,
          to: page.to,
          snapshot: first.snapshot,
        });
        let events = 0;
        for (;;) {
          for (const event of page.events) await line(out, { event });
          events += page.events.length;
          if (page.next === null) break;
          page = await ask({ ...first.window, after: page.next });
        }
        await line(out, { digests: page.digests ?? [] });
        return { events, from: page.from, to: page.to };
      });
      if (out !== process.stdout) await new Promise<void>((done) => out.end(done));
      process.stderr.write(
        `exported ${summary.events} events, positions ${summary.from.position} to ${summary.to.position}\n`,
      );
    });
}

function line(out: Writable, value: unknown): Promise<void> {
  return new Promise((done, fail) => {
    out.write(`${JSON.stringify(value)}\n`, (error) => (error ? fail(error) : done()));
  });
}
