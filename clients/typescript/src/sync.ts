import type { TodoClient } from "./client.js";
import { isTodoApiError } from "./errors.js";
import type { Task } from "./types.js";

/** One page of the change feed, as a store applies it. */
export interface SyncPage {
  /** Tasks created, changed or restored: insert or replace each by id. */
  changes: Task[];
  /** Ids of tasks trashed or removed: remove each if present (unknown ids are fine). */
  deleted: string[];
  /** Where the next sync starts: keep it with the tasks, atomically if the store can. */
  cursor: string;
}

/** Where a device keeps its copy of the tasks and its cursor (IndexedDB, SQLite, memory ...). */
export interface SyncStore {
  /** The cursor of the last page applied, or null before the first sync. */
  getCursor(): string | null | Promise<string | null>;
  /** Forget every task and the cursor (before a first sync, and after 410 `cursor_expired`). */
  reset(): void | Promise<void>;
  /** Apply one page, then keep its cursor. */
  applyPage(page: SyncPage): void | Promise<void>;
}

/** A SyncStore in memory: for tests, and for an app that only needs the tasks while it runs. */
export class MemorySyncStore implements SyncStore {
  readonly tasks = new Map<string, Task>();
  cursor: string | null = null;

  getCursor(): string | null {
    return this.cursor;
  }

  reset(): void {
    this.tasks.clear();
    this.cursor = null;
  }

  applyPage(page: SyncPage): void {
    for (const task of page.changes) this.tasks.set(task.id, task);
    for (const id of page.deleted) this.tasks.delete(id);
    this.cursor = page.cursor;
  }

  /** The tasks held, newest first (as the list answers by default). */
  list(): Task[] {
    return [...this.tasks.values()].sort(
      (a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id),
    );
  }
}

export interface SyncOptions {
  /** Page size, 1 to 500 (default 100). */
  limit?: number;
  signal?: AbortSignal;
}

export interface SyncResult {
  /** Pages fetched (at least one). */
  pages: number;
  /** Tasks inserted or replaced, and ids removed, over all pages. */
  changed: number;
  deleted: number;
  /** Whether the stored cursor had expired (410), so the copy was rebuilt from scratch. */
  restarted: boolean;
  cursor: string;
}

/**
 * The change-feed loop of docs/api.md ("Sync: the change feed"): from the stored cursor (or
 * from scratch, after clearing the store, when there is none), apply pages in order until
 * `has_more` is false, keeping each page's cursor; on 410 `cursor_expired`, forget the copy
 * and sync again from scratch. Run it at start-up, on reconnect, and every so often.
 */
export async function sync(
  client: TodoClient,
  store: SyncStore,
  options: SyncOptions = {},
): Promise<SyncResult> {
  const limit = options.limit ?? 100;
  const read = options.signal ? { signal: options.signal } : {};
  const result: SyncResult = { pages: 0, changed: 0, deleted: 0, restarted: false, cursor: "" };
  let cursor = await store.getCursor();
  if (cursor === null) await store.reset();
  for (;;) {
    let page;
    try {
      page = await client.changes(cursor === null ? { limit } : { since: cursor, limit }, read);
    } catch (error) {
      // From scratch there is no cursor to expire: a 410 then is not ours to handle.
      if (cursor === null || !isTodoApiError(error, "cursor_expired")) throw error;
      await store.reset();
      cursor = null;
      result.restarted = true;
      continue;
    }
    await store.applyPage({ changes: page.changes, deleted: page.deleted, cursor: page.cursor });
    result.pages += 1;
    result.changed += page.changes.length;
    result.deleted += page.deleted.length;
    result.cursor = cursor = page.cursor;
    if (!page.has_more) return result;
  }
}
