import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { createTodoClient } from "todo-api-client";

import { auth } from "@/lib/auth"; // betterAuth({ ..., plugins: [jwt()] })
import { AddTask } from "./add-task";

export default async function TasksPage() {
  const requestHeaders = await headers();
  if (!(await auth.api.getSession({ headers: requestHeaders }))) redirect("/sign-in");
  const todo = createTodoClient({
    baseUrl: process.env.TODO_API_URL ?? "http://127.0.0.1:8000",
    getToken: async () => (await auth.api.getToken({ headers: requestHeaders })).token,
  });
  const { tasks, total } = await todo.listTasks({ completed: false, sort: "due_at", limit: 20 });
  return (
    <main>
      <h1>{total} open tasks</h1>
      <ul>
        {tasks.map((task) => (
          <li key={task.id}>
            {task.title} {task.due_at && <time dateTime={task.due_at}>{task.due_at}</time>}
          </li>
        ))}
      </ul>
      <AddTask />
    </main>
  );
}
