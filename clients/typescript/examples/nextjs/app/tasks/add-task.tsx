"use client";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { createTodoClient, isTodoApiError } from "todo-api-client";

import { authClient } from "@/lib/auth-client"; // createAuthClient({ plugins: [jwtClient()] })

const todo = createTodoClient({
  baseUrl: process.env.NEXT_PUBLIC_TODO_API_URL ?? "http://127.0.0.1:8000",
  getToken: async () => (await authClient.token()).data?.token,
});

export function AddTask() {
  const router = useRouter();
  const [title, setTitle] = useState("");
  const [error, setError] = useState<string | null>(null);

  async function add(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    try {
      await todo.createTask({ title }); // retried safely: one Idempotency-Key per call
      setTitle("");
      setError(null);
      router.refresh(); // the server component lists the new task
    } catch (caught) {
      if (isTodoApiError(caught, "validation_error")) setError("A title needs 1 to 255 characters.");
      else if (isTodoApiError(caught, "not_authenticated", "invalid_token")) setError("Please sign in again.");
      else throw caught;
    }
  }

  return (
    <form onSubmit={add}>
      <input value={title} onChange={(event) => setTitle(event.target.value)} placeholder="New task" />
      <button type="submit">Add</button>
      {error && <p role="alert">{error}</p>}
    </form>
  );
}
