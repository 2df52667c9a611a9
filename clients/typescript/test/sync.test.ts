import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { MemorySyncStore, sync, type Task } from "todo-api-client";

import { deviceOf, newUser } from "./support/api.js";

const titles = (store: MemorySyncStore): string[] => store.list().map((task: Task) => task.title).sort();

describe("sync()", () => {
  it("keeps two devices of one user in step, page by page", async () => {
    const { client: phone, token } = newUser();
    const laptop = deviceOf(token);
    const phoneCopy = new MemorySyncStore();
    const laptopCopy = new MemorySyncStore();

    for (const title of ["a", "b", "c", "d", "e"]) await phone.createTask({ title });
    const first = await sync(laptop, laptopCopy, { limit: 2 });
    assert.equal(first.pages, 3, "five tasks, two a page: has_more followed");
    assert.equal(first.changed, 5);
    assert.equal(first.restarted, false);
    assert.deepEqual(titles(laptopCopy), ["a", "b", "c", "d", "e"]);
    await sync(phone, phoneCopy);
    assert.deepEqual(titles(phoneCopy), ["a", "b", "c", "d", "e"]);

    // The laptop edits, completes and deletes; the phone sees exactly that on its next sync.
    const [a, b, c] = laptopCopy.list().sort((x, y) => x.title.localeCompare(y.title));
    assert.ok(a && b && c);
    await laptop.updateTask(a, { title: "a2" }, { ifMatch: true });
    await laptop.completeTask(b, true, { ifMatch: true });
    await laptop.deleteTask(c, { ifMatch: true });
    const fromPhone = await phone.createTask({ title: "f" });

    const phoneRun = await sync(phone, phoneCopy, { limit: 2 });
    assert.equal(phoneRun.deleted, 1);
    assert.deepEqual(titles(phoneCopy), ["a2", "b", "d", "e", "f"]);
    assert.equal(phoneCopy.tasks.get(b.id)?.completed, true);

    await sync(laptop, laptopCopy);
    assert.deepEqual(titles(laptopCopy), titles(phoneCopy));
    assert.equal(laptopCopy.tasks.get(fromPhone.id)?.title, "f");

    // Nothing new: one page, nothing applied, the cursor kept.
    const idle = await sync(phone, phoneCopy);
    assert.deepEqual([idle.pages, idle.changed, idle.deleted], [1, 0, 0]);
    assert.equal(phoneCopy.cursor, idle.cursor);

    // A restore comes back as a change.
    await phone.restoreTask(c.id);
    await sync(laptop, laptopCopy);
    assert.deepEqual(titles(laptopCopy), ["a2", "b", "c", "d", "e", "f"]);
  });

  it("starts again from scratch on 410 cursor_expired (a cursor from before an erasure)", async () => {
    const { client: phone, token } = newUser();
    const laptop = deviceOf(token);
    const phoneCopy = new MemorySyncStore();
    await phone.createTask({ title: "before" });
    await sync(phone, phoneCopy);
    assert.deepEqual(titles(phoneCopy), ["before"]);
    const staleCursor = phoneCopy.cursor;

    await laptop.eraseAccount();
    await laptop.createTask({ title: "after" });
    await assert.rejects(phone.changes({ since: staleCursor ?? "" }), { status: 410, code: "cursor_expired" });

    const run = await sync(phone, phoneCopy);
    assert.equal(run.restarted, true);
    assert.deepEqual(titles(phoneCopy), ["after"], "the old copy was cleared, the new state fetched");
    assert.notEqual(phoneCopy.cursor, staleCursor);
  });

  it("a store without a cursor is cleared before the first sync", async () => {
    const { client } = newUser();
    const store = new MemorySyncStore();
    store.tasks.set("left-over", { title: "stale" } as Task);
    await client.createTask({ title: "real" });
    await sync(client, store);
    assert.deepEqual(titles(store), ["real"]);
  });
});
