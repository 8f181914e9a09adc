import Database from 'better-sqlite3';

/**
 * Where the history index keeps its fold snapshots: a SQLite side file, not the heap. A
 * snapshot holds every fact of the network (each endpoint, node, segment, policy), and their
 * number grows with the log (one every K events), so in memory they would grow the service's
 * heap with history; on disk they cost a page read and one JSON parse per query. They are a
 * cache derived from the log: by default the file is SQLite's anonymous temporary database
 * (path ''), private to this replica and deleted when it closes.
 */
export class SnapshotFile {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement<[number, string]>;
  private readonly latest: Database.Statement<[number], { position: number; body: string }>;
  private count = 0;

  constructor(path = '') {
    this.db = new Database(path);
    this.db.pragma('journal_mode = OFF');
    this.db.pragma('synchronous = OFF');
    this.db.exec(
      'DROP TABLE IF EXISTS snapshots; CREATE TABLE snapshots (position INTEGER PRIMARY KEY, body TEXT NOT NULL)',
    );
    this.insert = this.db.prepare(
      'INSERT OR REPLACE INTO snapshots (position, body) VALUES (?, ?)',
    );
    this.latest = this.db.prepare(
      'SELECT position, body FROM snapshots WHERE position <= ? ORDER BY position DESC LIMIT 1',
    );
  }

  get size(): number {
    return this.count;
  }

  put(position: number, snapshot: unknown): void {
    this.insert.run(position, JSON.stringify(snapshot));
    this.count++;
  }

  /** The latest snapshot at or before `position`, parsed; undefined when there is none. */
  atOrBefore(position: number): unknown {
    const row = this.latest.get(position);
    return row === undefined ? undefined : JSON.parse(row.body);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
