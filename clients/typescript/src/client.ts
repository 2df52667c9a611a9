import createClient, { type Client } from "openapi-fetch";

import { errorFromResponse, TodoApiError } from "./errors.js";
import { newIdempotencyKey, retryingFetch, type RetryOptions } from "./retry.js";
import { subjectOf } from "./token.js";
import type {
  AccountExport,
  BatchRequest,
  BatchResults,
  ChangeFeed,
  ChangesQuery,
  ListTasksQuery,
  ListTrashQuery,
  paths,
  ReminderList,
  ReminderWindow,
  Task,
  TaskCreate,
  TaskList,
  TaskReplace,
  TaskUpdate,
  TrashList,
} from "./types.js";

/** A token, or nothing when nobody is signed in. */
type MaybeToken = string | null | undefined;

export interface TodoClientOptions {
  /** Where the API is served, e.g. `https://todo.example.com` (no trailing `/api/v1`). */
  baseUrl: string;
  /**
   * The caller's current JWT, asked for before every request (so a refreshed token is picked
   * up). With Better Auth in a browser: `async () => (await authClient.token()).data?.token`.
   */
  getToken: () => MaybeToken | Promise<MaybeToken>;
  /** The fetch to use (default: the global one); wrap it to log, trace or test. */
  fetch?: (request: Request) => Promise<Response>;
  /** Retries of reads and of keyed creates and batches (see RetryOptions). */
  retry?: RetryOptions;
}

/** A task, or what identifies one of its versions (enough for `ifMatch: true`). */
export type TaskVersion = Pick<Task, "id" | "version">;

export interface WriteOptions {
  /**
   * `true`: send `If-Match` with the given task's ETag, so the write happens only if the task
   * is still at that version (else 412 `precondition_failed`); a string: send it as given
   * (an ETag exactly as the `ETag` header gave it, or `*`).
   */
  ifMatch?: boolean | string;
  signal?: AbortSignal;
}

export interface IdempotentOptions {
  /** The Idempotency-Key to send; by default a fresh UUID per call (reused on retries). */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface ReadOptions {
  signal?: AbortSignal;
}

export interface TodoClient {
  /** The user id the current token speaks for (its `sub`). */
  userId(): Promise<string>;
  listTasks(query?: ListTasksQuery, options?: ReadOptions): Promise<TaskList>;
  createTask(task: TaskCreate, options?: IdempotentOptions): Promise<Task>;
  getTask(id: string, options?: ReadOptions): Promise<Task>;
  /** The task if it changed since the version held, `null` if not (304). */
  getTaskIfChanged(task: TaskVersion, options?: ReadOptions): Promise<Task | null>;
  replaceTask(task: string | TaskVersion, body: TaskReplace, options?: WriteOptions): Promise<Task>;
  updateTask(task: string | TaskVersion, changes: TaskUpdate, options?: WriteOptions): Promise<Task>;
  /** `completed` sets it; left out, it toggles. */
  completeTask(task: string | TaskVersion, completed?: boolean, options?: WriteOptions): Promise<Task>;
  /** Moves the task to the trash. */
  deleteTask(task: string | TaskVersion, options?: WriteOptions): Promise<void>;
  /** Up to 100 operations in order; an atomic batch that fails throws 409 `batch_failed`. */
  batch(request: BatchRequest, options?: IdempotentOptions): Promise<BatchResults>;
  listTrash(query?: ListTrashQuery, options?: ReadOptions): Promise<TrashList>;
  restoreTask(id: string, options?: ReadOptions): Promise<Task>;
  /** Removes a trashed task for good. */
  removeFromTrash(id: string, options?: ReadOptions): Promise<void>;
  /** One page of the change feed (see `sync()` for the whole loop). */
  changes(query?: ChangesQuery, options?: ReadOptions): Promise<ChangeFeed>;
  /**
   * The reminders of live, open tasks in `[from, to)` (at most 31 days; else 422
   * `validation_error`): at most 500, then `has_more` is true. Dates are sent in UTC.
   */
  listReminders(window: ReminderWindow, options?: ReadOptions): Promise<ReminderList>;
  exportAccount(options?: ReadOptions): Promise<AccountExport>;
  /** Erases the account and all of its data. */
  eraseAccount(options?: ReadOptions): Promise<void>;
  /** The openapi-fetch client underneath, for anything not wrapped here (no auth added). */
  readonly raw: Client<paths>;
}

/** A task's ETag, as the API sends it: its version in quotes. */
export function etagOf(task: Pick<Task, "version">): string {
  return `"${task.version}"`;
}

interface Outcome<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

export function createTodoClient(options: TodoClientOptions): TodoClient {
  const baseFetch = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  const raw = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    fetch: retryingFetch(baseFetch, options.retry),
  });

  async function identity(): Promise<{ headers: { Authorization: string }; user_id: string }> {
    const token = await options.getToken();
    if (!token) {
      throw new TodoApiError({ status: 401, code: "not_authenticated", detail: "No token: nobody is signed in." });
    }
    return { headers: { Authorization: `Bearer ${token}` }, user_id: subjectOf(token) };
  }

  async function send<T>(call: () => Promise<Outcome<T>>): Promise<{ data: T; response: Response }> {
    let outcome: Outcome<T>;
    try {
      outcome = await call();
    } catch (cause) {
      if (cause instanceof TodoApiError || isAbort(cause)) throw cause;
      throw new TodoApiError({
        status: 0,
        code: "network_error",
        detail: cause instanceof Error ? cause.message : String(cause),
        cause,
      });
    }
    const { response } = outcome;
    if (response.ok || response.status === 304) {
      return { data: outcome.data as T, response };
    }
    throw errorFromResponse(response, outcome.error);
  }

  function conditional(task: string | TaskVersion, write: WriteOptions | undefined): Record<string, string> {
    const ifMatch = write?.ifMatch;
    if (ifMatch === undefined || ifMatch === false) return {};
    if (typeof ifMatch === "string") return { "If-Match": ifMatch };
    if (typeof task === "string") {
      throw new TypeError("ifMatch: true needs the task (with its version), not just its id.");
    }
    return { "If-Match": etagOf(task) };
  }

  const idOf = (task: string | TaskVersion): string => (typeof task === "string" ? task : task.id);
  const signalOf = (given: { signal?: AbortSignal } | undefined): { signal?: AbortSignal } =>
    given?.signal ? { signal: given.signal } : {};

  return {
    raw,

    async userId() {
      return (await identity()).user_id;
    },

    async listTasks(query = {}, read) {
      const { headers, user_id } = await identity();
      const { data } = await send(() =>
        raw.GET("/api/v1/{user_id}/tasks", { params: { path: { user_id }, query }, headers, ...signalOf(read) }),
      );
      return data;
    },

    async createTask(task, idempotent) {
      const { headers, user_id } = await identity();
      const key = idempotent?.idempotencyKey ?? newIdempotencyKey();
      const { data } = await send(() =>
        raw.POST("/api/v1/{user_id}/tasks", {
          params: { path: { user_id } },
          body: task,
          headers: { ...headers, "Idempotency-Key": key },
          ...signalOf(idempotent),
        }),
      );
      return data;
    },

    async getTask(id, read) {
      const { headers, user_id } = await identity();
      const { data } = await send(() =>
        raw.GET("/api/v1/{user_id}/tasks/{task_id}", {
          params: { path: { user_id, task_id: id } },
          headers,
          ...signalOf(read),
        }),
      );
      return data;
    },

    async getTaskIfChanged(task, read) {
      const { headers, user_id } = await identity();
      const { data, response } = await send(() =>
        raw.GET("/api/v1/{user_id}/tasks/{task_id}", {
          params: { path: { user_id, task_id: task.id } },
          headers: { ...headers, "If-None-Match": etagOf(task) },
          ...signalOf(read),
        }),
      );
      return response.status === 304 ? null : data;
    },

    async replaceTask(task, body, write) {
      const condition = conditional(task, write);
      const { headers, user_id } = await identity();
      const { data } = await send(() =>
        raw.PUT("/api/v1/{user_id}/tasks/{task_id}", {
          params: { path: { user_id, task_id: idOf(task) } },
          body,
          headers: { ...headers, ...condition },
          ...signalOf(write),
        }),
      );
      return data;
    },

    async updateTask(task, changes, write) {
      const condition = conditional(task, write);
      const { headers, user_id } = await identity();
      const { data } = await send(() =>
        raw.PATCH("/api/v1/{user_id}/tasks/{task_id}", {
          params: { path: { user_id, task_id: idOf(task) } },
          body: changes,
          headers: { ...headers, ...condition },
          ...signalOf(write),
        }),
      );
      return data;
    },

    async completeTask(task, completed, write) {
      const condition = conditional(task, write);
      const { headers, user_id } = await identity();
      const { data } = await send(() =>
        raw.PATCH("/api/v1/{user_id}/tasks/{task_id}/complete", {
          params: { path: { user_id, task_id: idOf(task) } },
          ...(completed === undefined ? {} : { body: { completed } }),
          headers: { ...headers, ...condition },
          ...signalOf(write),
        }),
      );
      return data;
    },

    async deleteTask(task, write) {
      const condition = conditional(task, write);
      const { headers, user_id } = await identity();
      await send(() =>
        raw.DELETE("/api/v1/{user_id}/tasks/{task_id}", {
          params: { path: { user_id, task_id: idOf(task) } },
          headers: { ...headers, ...condition },
          ...signalOf(write),
        }),
      );
    },

    async batch(request, idempotent) {
      const { headers, user_id } = await identity();
      const key = idempotent?.idempotencyKey ?? newIdempotencyKey();
      const { data } = await send(() =>
        raw.POST("/api/v1/{user_id}/tasks/batch", {
          params: { path: { user_id } },
          body: request,
          headers: { ...headers, "Idempotency-Key": key },
          ...signalOf(idempotent),
        }),
      );
      return data;
    },

    async listTrash(query = {}, read) {
      const { headers, user_id } = await identity();
      const { data } = await send(() =>
        raw.GET("/api/v1/{user_id}/tasks/trash", { params: { path: { user_id }, query }, headers, ...signalOf(read) }),
      );
      return data;
    },

    async restoreTask(id, read) {
      const { headers, user_id } = await identity();
      const { data } = await send(() =>
        raw.POST("/api/v1/{user_id}/tasks/{task_id}/restore", {
          params: { path: { user_id, task_id: id } },
          headers,
          ...signalOf(read),
        }),
      );
      return data;
    },

    async removeFromTrash(id, read) {
      const { headers, user_id } = await identity();
      await send(() =>
        raw.DELETE("/api/v1/{user_id}/tasks/trash/{task_id}", {
          params: { path: { user_id, task_id: id } },
          headers,
          ...signalOf(read),
        }),
      );
    },

    async changes(query = {}, read) {
      const { headers, user_id } = await identity();
      const { data } = await send(() =>
        raw.GET("/api/v1/{user_id}/tasks/changes", { params: { path: { user_id }, query }, headers, ...signalOf(read) }),
      );
      return data;
    },

    async listReminders(window, read) {
      const { headers, user_id } = await identity();
      const query = { from: isoOf(window.from), to: isoOf(window.to) };
      const { data } = await send(() =>
        raw.GET("/api/v1/{user_id}/reminders", { params: { path: { user_id }, query }, headers, ...signalOf(read) }),
      );
      return data;
    },

    async exportAccount(read) {
      const { headers, user_id } = await identity();
      const { data } = await send(() =>
        raw.GET("/api/v1/{user_id}/export", { params: { path: { user_id } }, headers, ...signalOf(read) }),
      );
      return data;
    },

    async eraseAccount(read) {
      const { headers, user_id } = await identity();
      await send(() => raw.DELETE("/api/v1/{user_id}", { params: { path: { user_id } }, headers, ...signalOf(read) }));
    },
  };
}

function isoOf(instant: string | Date): string {
  return instant instanceof Date ? instant.toISOString() : instant;
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}
