import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { etagOf, isTodoApiError, type Task } from "todo-api-client";

import { newUser } from "./support/api.js";

describe("tasks", () => {
  it("creates a task from a title alone, with the API's defaults", async () => {
    const { client, userId } = newUser();
    const task = await client.createTask({ title: "  Buy milk  " });
    assert.equal(task.title, "Buy milk");
    assert.equal(task.completed, false);
    assert.equal(task.priority, "none");
    assert.deepEqual(task.tags, []);
    assert.equal(task.version, 1);
    assert.equal(task.owner_id, userId);
    assert.equal(await client.userId(), userId);
    assert.deepEqual(await client.getTask(task.id), task);
  });

  it("lists with typed filters, search, sort and paging", async () => {
    const { client } = newUser();
    await client.createTask({ title: "Write report", priority: "high", tags: ["work", "urgent"], due_at: "2030-01-02T09:00:00Z" });
    await client.createTask({ title: "Buy milk", priority: "low", tags: ["errands"] });
    await client.createTask({ title: "Plan trip", priority: "medium", tags: ["work"], due_at: "2030-01-01T09:00:00+02:00" });

    const important = await client.listTasks({ priority: "medium,high", sort: "due_at" });
    assert.deepEqual(important.tasks.map((t) => t.title), ["Plan trip", "Write report"]);
    assert.equal(important.total, 2);

    const both = await client.listTasks({ tag: ["work", "urgent"], completed: false });
    assert.deepEqual(both.tasks.map((t) => t.title), ["Write report"]);

    const search = await client.listTasks({ q: "buy mi" });
    assert.deepEqual(search.tasks.map((t) => t.title), ["Buy milk"]);

    const page = await client.listTasks({ sort: "title", limit: 1, offset: 1 });
    assert.deepEqual(page.tasks.map((t) => t.title), ["Plan trip"]);
    assert.equal(page.total, 3);
    assert.equal(page.limit, 1);
    assert.equal(page.offset, 1);
  });

  it("updates with If-Match from the task's ETag, and refuses a stale one with 412", async () => {
    const { client } = newUser();
    const created = await client.createTask({ title: "Draft" });
    assert.equal(etagOf(created), '"1"');

    const renamed = await client.updateTask(created, { title: "Final", description: "v2" }, { ifMatch: true });
    assert.equal(renamed.title, "Final");
    assert.equal(renamed.version, 2);

    await assert.rejects(
      client.updateTask(created, { title: "Lost edit" }, { ifMatch: true }),
      (error: unknown) => {
        assert.ok(isTodoApiError(error));
        assert.equal(error.status, 412);
        assert.equal(error.code, "precondition_failed");
        assert.equal(typeof error.detail, "string");
        return true;
      },
    );
    assert.equal((await client.getTask(created.id)).title, "Final", "the stale edit changed nothing");

    const replaced = await client.replaceTask(renamed, { title: "Replaced" }, { ifMatch: '"2"' });
    assert.equal(replaced.description, null, "a replace resets what it leaves out");
    assert.equal(replaced.version, 3);
    await assert.rejects(client.replaceTask(renamed, { title: "x" }, { ifMatch: true }), { code: "precondition_failed" });
    // ifMatch: true needs the task's version: an id alone is refused before any request.
    await assert.rejects(client.updateTask(created.id, { title: "x" }, { ifMatch: true }), TypeError);
  });

  it("completes (set and toggle), with If-Match too", async () => {
    const { client } = newUser();
    const task = await client.createTask({ title: "Run" });
    const done = await client.completeTask(task, true, { ifMatch: true });
    assert.equal(done.completed, true);
    assert.notEqual(done.completed_at, null);
    const toggled = await client.completeTask(done.id);
    assert.equal(toggled.completed, false);
    assert.equal(toggled.completed_at, null);
    await assert.rejects(client.completeTask(done, undefined, { ifMatch: true }), { status: 412, code: "precondition_failed" });
  });

  it("deletes to the trash, restores, and removes for good", async () => {
    const { client } = newUser();
    const task = await client.createTask({ title: "Old" });
    await assert.rejects(client.deleteTask(task.id, { ifMatch: '"7"' }), { status: 412 });
    await client.deleteTask(task, { ifMatch: true });
    await assert.rejects(client.getTask(task.id), { status: 404, code: "task_not_found" });

    const trash = await client.listTrash();
    assert.equal(trash.total, 1);
    assert.equal(trash.tasks[0]?.id, task.id);
    assert.equal(typeof trash.tasks[0]?.deleted_at, "string");

    const restored = await client.restoreTask(task.id);
    assert.equal(restored.title, "Old");
    assert.ok(restored.version > task.version, "a restore advances the version");
    assert.equal((await client.listTasks()).total, 1);

    await client.deleteTask(restored);
    await client.removeFromTrash(task.id);
    assert.equal((await client.listTrash()).total, 0);
    await assert.rejects(client.restoreTask(task.id), { status: 404, code: "task_not_found" });
  });

  it("answers null from getTaskIfChanged while the task is unchanged (304)", async () => {
    const { client } = newUser();
    const task = await client.createTask({ title: "Cached" });
    assert.equal(await client.getTaskIfChanged(task), null);
    const changed = await client.updateTask(task, { priority: "high" });
    assert.deepEqual(await client.getTaskIfChanged(task), changed);
  });

  it("runs a batch with refs, and an atomic one that fails throws batch_failed with the results", async () => {
    const { client } = newUser();
    const { results } = await client.batch({
      operations: [
        { op: "create", ref: "a", data: { title: "Pack", tags: ["trip"] } },
        { op: "update", id: "ref:a", data: { priority: "high" } },
        { op: "complete", id: "ref:a" },
      ],
    });
    assert.deepEqual(results.map((r) => r.status), [201, 200, 200]);
    const packed = results[2]?.task as Task;
    assert.equal(packed.priority, "high");
    assert.equal(packed.completed, true);

    await assert.rejects(
      client.batch({
        atomic: true,
        operations: [
          { op: "create", data: { title: "Never" } },
          { op: "delete", id: packed.id, if_match: '"1"' },
        ],
      }),
      (error: unknown) => {
        assert.ok(isTodoApiError(error, "batch_failed"));
        assert.equal(error.status, 409);
        assert.deepEqual(error.results?.map((r) => r.status), [201, 412]);
        return true;
      },
    );
    assert.equal((await client.listTasks()).total, 1, "nothing of the atomic batch was applied");
  });

  it("exports the account and erases it", async () => {
    const { client, userId } = newUser();
    const kept = await client.createTask({ title: "Keep" });
    const trashed = await client.createTask({ title: "Trash" });
    await client.deleteTask(trashed);
    const exported = await client.exportAccount();
    assert.equal(exported.user.id, userId);
    assert.deepEqual(exported.tasks.map((t) => t.id), [kept.id]);
    assert.deepEqual(exported.trash.map((t) => t.id), [trashed.id]);

    await client.eraseAccount();
    assert.equal((await client.listTasks()).total, 0);
    assert.equal((await client.listTrash()).total, 0);
  });
});
