// Every call a front end makes, from Node: TODO_API_URL=http://127.0.0.1:8000 TODO_API_TOKEN=<JWT>
import { createTodoClient, isTodoApiError, MemorySyncStore, sync } from "todo-api-client";

const todo = createTodoClient({
  baseUrl: process.env.TODO_API_URL ?? "http://127.0.0.1:8000",
  getToken: async () => process.env.TODO_API_TOKEN, // in a browser: (await authClient.token()).data?.token
});

const milk = await todo.createTask({ title: "Buy milk", priority: "high", tags: ["errands"] });
console.log("created:", milk.title, milk.priority, milk.tags, `version ${milk.version}`);

const { tasks, total } = await todo.listTasks({ priority: "medium,high", completed: false, sort: "due_at" });
console.log("open, important:", total, tasks.map((task) => task.title));

const oat = await todo.updateTask(milk, { title: "Buy oat milk" }, { ifMatch: true });
console.log("renamed:", oat.title, `version ${oat.version}`);

try {
  await todo.updateTask(milk, { title: "Buy soy milk" }, { ifMatch: true }); // milk is version 1: stale
} catch (error) {
  if (isTodoApiError(error, "precondition_failed")) console.log("stale edit refused:", error.status, error.code);
  else throw error;
}

const done = await todo.completeTask(oat, true, { ifMatch: true });
console.log("completed:", done.completed, done.completed_at !== null);

const local = new MemorySyncStore();
const first = await sync(todo, local);
console.log("synced:", first.changed, "task(s) in", first.pages, "page(s); local copy:", local.list().map((t) => t.title));

await todo.deleteTask(done);
const later = await sync(todo, local);
console.log("after a delete, sync removed:", later.deleted, "; local copy:", local.list().length, "task(s)");

const restored = await todo.restoreTask(done.id);
console.log("restored:", restored.title, `version ${restored.version}`);
