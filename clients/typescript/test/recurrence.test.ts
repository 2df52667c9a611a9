import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  isTodoApiError,
  type BatchOperation,
  type ListTasksQuery,
  type Reminder,
  type Task,
  type TaskCreate,
  type TaskUpdate,
} from "todo-api-client";

import { newUser } from "./support/api.js";

// The example: 09:00 in Berlin every day; Berlin moves to summer time on 2026-03-29.
const DAILY_IN_BERLIN: TaskCreate = {
  title: "Water the plants",
  due_at: "2026-03-27T09:00:00+01:00",
  time_zone: "Europe/Berlin",
  recurrence: "FREQ=DAILY",
  reminders: ["P1D", "PT900S"],
};

// The new fields and filters are typed: these do not compile (tsc checks the tests strictly).
// @ts-expect-error reminders are ISO 8601 durations (strings), not seconds
const wrongReminders: TaskUpdate = { reminders: [900] };
// @ts-expect-error series_id and next_id are read-only: not in a create's body
const readOnlySeries: TaskCreate = { title: "x", series_id: "5c2a5d56-6ec5-4a4b-9d47-32d1e8a1a0e5" };
// @ts-expect-error recurring is a boolean filter
const wrongFilter: ListTasksQuery = { recurring: "yes" };
void [wrongReminders, readOnlySeries, wrongFilter];

describe("repeating tasks and reminders", () => {
  it("creates a repeating task with the new fields, as the API stores them", async () => {
    const { client } = newUser();
    const task: Task = await client.createTask(DAILY_IN_BERLIN);
    assert.equal(task.recurrence, "FREQ=DAILY");
    assert.equal(task.time_zone, "Europe/Berlin");
    assert.deepEqual(task.reminders, ["PT15M", "P1D"]); // normalised, shortest first
    assert.equal(task.due_at, "2026-03-27T08:00:00Z");
    assert.equal(task.series_id, task.id);
    assert.equal(task.next_id, null);

    const plain = await client.createTask({ title: "Once" });
    assert.equal(plain.recurrence, null);
    assert.equal(plain.time_zone, "UTC");
    assert.deepEqual(plain.reminders, []);
    assert.equal(plain.series_id, null);
    assert.equal(plain.next_id, null);
  });

  it("completing an occurrence creates the next one, reachable through next_id, at 09:00 Berlin time", async () => {
    const { client } = newUser();
    const first = await client.createTask(DAILY_IN_BERLIN);

    const completed = await client.completeTask(first, true, { ifMatch: true });
    assert.equal(completed.id, first.id);
    assert.equal(completed.completed, true);
    assert.ok(completed.next_id, "the completed occurrence names the next one");

    const second = await client.getTask(completed.next_id);
    assert.notEqual(second.id, first.id);
    assert.equal(second.completed, false);
    assert.equal(second.due_at, "2026-03-28T08:00:00Z");
    assert.equal(second.series_id, first.id);
    assert.equal(second.next_id, null);
    assert.equal(second.title, first.title);
    assert.equal(second.recurrence, first.recurrence);
    assert.equal(second.time_zone, first.time_zone);
    assert.deepEqual(second.reminders, first.reminders);

    // Completed by a PATCH this time: still 09:00 in Berlin, now in summer time.
    const secondDone = await client.updateTask(second, { completed: true }, { ifMatch: true });
    assert.ok(secondDone.next_id);
    const third = await client.getTask(secondDone.next_id);
    assert.equal(third.due_at, "2026-03-29T07:00:00Z");
    assert.equal(third.series_id, first.id);

    // Exactly once: reopening and completing again creates nothing more.
    await client.completeTask(first, false);
    const again = await client.completeTask(first, true);
    assert.equal(again.next_id, second.id);
    assert.equal((await client.listTasks({ series_id: first.id })).total, 3);
  });

  it("lists the reminders of open tasks in a window, with Dates or strings", async () => {
    const { client } = newUser();
    const first = await client.createTask(DAILY_IN_BERLIN);
    const completed = await client.completeTask(first, true);
    assert.ok(completed.next_id);
    const second = await client.getTask(completed.next_id);

    // 27 March (UTC): the completed task's own reminder (07:45) is not listed; the next
    // occurrence's one-day reminder (08:00, a day before its due_at) is.
    const friday = await client.listReminders({ from: "2026-03-27T00:00:00Z", to: new Date("2026-03-28T00:00:00Z") });
    const expected: Reminder[] = [
      { task_id: second.id, title: "Water the plants", remind_at: "2026-03-27T08:00:00Z", due_at: "2026-03-28T08:00:00Z", offset: "P1D" },
    ];
    assert.deepEqual(friday, { reminders: expected, has_more: false });

    const saturday = await client.listReminders({
      from: new Date("2026-03-28T00:00:00Z"),
      to: "2026-03-29T00:00:00+00:00",
    });
    assert.deepEqual(
      saturday.reminders.map((reminder) => [reminder.task_id, reminder.remind_at, reminder.offset]),
      [[second.id, "2026-03-28T07:45:00Z", "PT15M"]],
    );

    // The window ends at `to` (excluded) and is at most 31 days.
    const beforeEight = await client.listReminders({ from: "2026-03-27T00:00:00Z", to: "2026-03-27T08:00:00Z" });
    assert.deepEqual(beforeEight.reminders, []);
    await assert.rejects(
      client.listReminders({ from: "2026-03-01T00:00:00Z", to: "2026-04-02T00:00:00Z" }),
      (error: unknown) => isTodoApiError(error, "validation_error") && error.status === 422,
    );
  });

  it("says has_more when more than 500 reminders fall in the window", async () => {
    const { client } = newUser();
    // 101 tasks with 5 reminders each: 505 in the window.
    const create = (index: number): BatchOperation => ({
      op: "create",
      data: { title: `Reminded ${index}`, due_at: "2026-06-01T12:00:00Z", reminders: ["PT0S", "PT1M", "PT2M", "PT3M", "PT4M"] },
    });
    const operations = Array.from({ length: 101 }, (_, index) => create(index));
    await client.batch({ operations: operations.slice(0, 100), atomic: true });
    await client.batch({ operations: operations.slice(100), atomic: true });

    const page = await client.listReminders({ from: "2026-06-01T00:00:00Z", to: "2026-06-02T00:00:00Z" });
    assert.equal(page.reminders.length, 500);
    assert.equal(page.has_more, true);
    const instants = page.reminders.map((reminder) => reminder.remind_at);
    assert.deepEqual(instants, [...instants].sort());
  });

  it("filters the list by recurring and by series_id", async () => {
    const { client } = newUser();
    const daily = await client.createTask(DAILY_IN_BERLIN);
    const dailyDone = await client.completeTask(daily, true);
    assert.ok(dailyDone.next_id);
    const weekly = await client.createTask({
      title: "Standup notes",
      due_at: "2026-12-07T09:00:00+01:00",
      recurrence: "FREQ=WEEKLY;BYDAY=MO,WE,FR",
      time_zone: "Europe/Berlin",
    });
    const once = await client.createTask({ title: "Once", due_at: "2026-12-07T09:00:00Z" });

    const ids = (tasks: Task[]): string[] => tasks.map((task) => task.id).sort();

    const recurring = await client.listTasks({ recurring: true });
    assert.deepEqual(ids(recurring.tasks), [daily.id, dailyDone.next_id, weekly.id].sort());
    const notRecurring = await client.listTasks({ recurring: false });
    assert.deepEqual(ids(notRecurring.tasks), [once.id]);

    const series = await client.listTasks({ series_id: daily.id, sort: "due_at" });
    assert.deepEqual(series.tasks.map((task) => task.id), [daily.id, dailyDone.next_id]);
    assert.equal(series.total, 2);
    const openInSeries = await client.listTasks({ series_id: daily.id, completed: false });
    assert.deepEqual(ids(openInSeries.tasks), [dailyDone.next_id]);

    // A PUT without a recurrence ends the series there (and, left out, due_at is null).
    const ended = await client.replaceTask(weekly, { title: "Standup notes", recurrence: null }, { ifMatch: true });
    assert.equal(ended.recurrence, null);
    assert.equal(ended.due_at, null);
    assert.deepEqual(ids((await client.listTasks({ recurring: true })).tasks), [daily.id, dailyDone.next_id].sort());
  });
});
