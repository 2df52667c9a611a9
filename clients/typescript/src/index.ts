export {
  createTodoClient,
  etagOf,
  type IdempotentOptions,
  type ReadOptions,
  type TaskVersion,
  type TodoClient,
  type TodoClientOptions,
  type WriteOptions,
} from "./client.js";
export {
  isTodoApiError,
  TodoApiError,
  type ErrorCode,
  type OperationResult,
  type ValidationIssue,
} from "./errors.js";
export { newIdempotencyKey, type RetryOptions } from "./retry.js";
export {
  MemorySyncStore,
  sync,
  type SyncOptions,
  type SyncPage,
  type SyncResult,
  type SyncStore,
} from "./sync.js";
export { subjectOf } from "./token.js";
export type * from "./types.js";
