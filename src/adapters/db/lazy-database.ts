import type { Logger } from "pino";
import type { Database } from "../../ports/database.js";
import { migrate, type Migration } from "./migrate.js";

/**
 * Opens the metadata database at the first `get()`, runs the migrations once, and hands the same
 * connection to every caller. A failed open (database down) is not remembered: the next caller tries again.
 */
export class LazyDatabase {
  private opening: Promise<Database> | undefined;
  /** The database once open, for synchronous figures (system status). */
  current: Database | undefined;
  private closed = false;

  constructor(
    private readonly open: () => Promise<Database>,
    private readonly migrations: readonly Migration[],
    private readonly log: Logger,
  ) {}

  readonly get = (): Promise<Database> => {
    if (this.closed) return Promise.reject(new Error("the metadata database is closed"));
    this.opening ??= (async () => {
      const db = await this.open();
      try {
        const applied = await migrate(db, this.migrations);
        this.log.info({ engine: db.engine, applied }, "metadata database ready");
        return (this.current = db);
      } catch (err) {
        await db.close().catch(() => undefined);
        throw err;
      }
    })().catch((err: unknown) => {
      this.opening = undefined;
      throw err;
    });
    return this.opening;
  };

  get started(): boolean {
    return this.opening !== undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    const db = await this.opening?.catch(() => undefined);
    await db?.close();
  }
}
