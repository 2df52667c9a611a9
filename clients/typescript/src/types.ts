import type { components, operations, paths } from "./schema.js";

type Schemas = components["schemas"];

export type { components, operations, paths };

/** A task as the API answers it. */
export type Task = Schemas["TaskPublic"];
/** A task in the trash: a Task with `deleted_at`. */
export type TrashedTask = Schemas["TrashedTask"];
/** The body of a create: `title`, and optionally every other writable field. */
export type TaskCreate = Schemas["TaskCreate"];
/** The body of a full replace (PUT): fields left out get their defaults. */
export type TaskReplace = Schemas["TaskReplace"];
/** The body of a PATCH: only the given fields change. */
export type TaskUpdate = Schemas["TaskUpdate"];
export type Priority = Task["priority"];
export type TaskList = Schemas["TaskList"];
export type TrashList = Schemas["TrashList"];
export type ChangeFeed = Schemas["ChangeFeed"];
export type BatchRequest = Schemas["BatchRequest"];
export type BatchOperation = BatchRequest["operations"][number];
export type BatchResults = Schemas["BatchResults"];
export type AccountExport = Schemas["AccountExport"];
/** One reminder: a task's `due_at` minus one of its `reminders` offsets. */
export type Reminder = Schemas["Reminder"];
/** A window's reminders, ordered by `remind_at` then `task_id`; `has_more` past 500. */
export type ReminderList = Schemas["ReminderList"];

type QueryOf<Operation> = Operation extends { parameters: { query?: infer Query } }
  ? NonNullable<Query>
  : never;

/** Every filter, search, sort and paging parameter of the task list. */
export type ListTasksQuery = QueryOf<paths["/api/v1/{user_id}/tasks"]["get"]>;
export type ListTrashQuery = QueryOf<paths["/api/v1/{user_id}/tasks/trash"]["get"]>;
export type ChangesQuery = QueryOf<paths["/api/v1/{user_id}/tasks/changes"]["get"]>;
/** The window of `GET /reminders`: `from` (included) to `to` (excluded), at most 31 days. */
export type RemindersQuery = QueryOf<paths["/api/v1/{user_id}/reminders"]["get"]>;
/** A reminders window as the client takes it: ISO 8601 date-times with an offset, or Dates. */
export type ReminderWindow = { [Bound in keyof RemindersQuery]: RemindersQuery[Bound] | Date };
