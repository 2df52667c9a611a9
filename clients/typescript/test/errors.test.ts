import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { createTodoClient, isTodoApiError, TodoApiError, type ErrorCode } from "todo-api-client";

import { newUser, servedApi } from "./support/api.js";
import { mintToken, newUserId } from "./support/tokens.js";

/** What a front end does with an error: a switch over the typed codes. */
function explain(error: unknown): string {
  if (!isTodoApiError(error)) return "unknown";
  const code: ErrorCode = error.code;
  switch (code) {
    case "not_authenticated":
    case "invalid_token":
      return "sign in again";
    case "forbidden":
      return "not yours";
    case "task_not_found":
      return "gone";
    case "validation_error":
      return `invalid: ${Array.isArray(error.detail) ? error.detail.map((issue) => issue.loc.join(".")).join(", ") : error.detail}`;
    case "precondition_failed":
      return "changed elsewhere";
    default:
      return code;
  }
}

async function caught(promise: Promise<unknown>): Promise<TodoApiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TodoApiError, `not a TodoApiError: ${String(error)}`);
    return error;
  }
  assert.fail("no error");
}

describe("typed errors", () => {
  it("422 validation_error with the issues, 404 task_not_found", async () => {
    const { client } = newUser();
    const invalid = await caught(client.createTask({ title: "   " }));
    assert.equal(invalid.status, 422);
    assert.equal(invalid.code, "validation_error");
    assert.equal(explain(invalid), "invalid: body.title");

    const missing = await caught(client.getTask("00000000-0000-4000-8000-000000000000"));
    assert.deepEqual([missing.status, missing.code, explain(missing)], [404, "task_not_found", "gone"]);

    const badQuery = await caught(client.listTasks({ due_before: "tomorrow" }));
    assert.equal(badQuery.code, "validation_error");
    assert.deepEqual(Array.isArray(badQuery.detail) && badQuery.detail[0]?.loc, ["query", "due_before"]);
  });

  it("another user's task is 404, exactly like a missing one", async () => {
    const alice = newUser();
    const bob = newUser();
    const hers = await alice.client.createTask({ title: "Alice's" });
    const error = await caught(bob.client.updateTask(hers.id, { title: "Bob was here" }));
    assert.deepEqual([error.status, error.code], [404, "task_not_found"]);
  });

  it("401 invalid_token for a token the API did not sign, 401 not_authenticated without one", async () => {
    const { baseUrl } = servedApi();
    const forged = createTodoClient({ baseUrl, getToken: () => mintToken(newUserId(), "not-the-secret-".repeat(4)) });
    const error = await caught(forged.listTasks());
    assert.deepEqual([error.status, error.code, explain(error)], [401, "invalid_token", "sign in again"]);

    const signedOut = createTodoClient({ baseUrl, getToken: async () => null });
    const none = await caught(signedOut.listTasks());
    assert.deepEqual([none.status, none.code], [401, "not_authenticated"]);
  });

  it("403 forbidden on another user's path (through the raw client)", async () => {
    const alice = newUser();
    const bob = newUser();
    const { response, error } = await alice.client.raw.GET("/api/v1/{user_id}/tasks", {
      params: { path: { user_id: bob.userId } },
      headers: { Authorization: `Bearer ${alice.token}` },
    });
    assert.equal(response.status, 403);
    assert.equal(error?.code, "forbidden");
  });

  it("422 invalid_cursor and 422 idempotency_key_reused", async () => {
    const { client } = newUser();
    const cursor = await caught(client.changes({ since: "not-a-cursor" }));
    assert.deepEqual([cursor.status, cursor.code], [422, "invalid_cursor"]);

    await client.createTask({ title: "One" }, { idempotencyKey: "fixed-key-1" });
    const reused = await caught(client.createTask({ title: "Two" }, { idempotencyKey: "fixed-key-1" }));
    assert.deepEqual([reused.status, reused.code], [422, "idempotency_key_reused"]);
  });

  it("network_error when nothing answers", async () => {
    const client = createTodoClient({
      baseUrl: "http://127.0.0.1:9", // discard: nothing listens
      getToken: () => mintToken(newUserId(), "x".repeat(40)),
      retry: { retries: 1, baseDelayMs: 10 },
    });
    const error = await caught(client.listTasks());
    assert.deepEqual([error.status, error.code], [0, "network_error"]);
  });
});
