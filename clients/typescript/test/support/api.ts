import { createTodoClient, type TodoClient, type TodoClientOptions } from "todo-api-client";

import { mintToken, newUserId } from "./tokens.js";

/** The served API the tests run against (set by test/run.ts, or by whoever serves one). */
export function servedApi(): { baseUrl: string; secret: string } {
  const baseUrl = process.env["TODO_API_URL"];
  const secret = process.env["TODO_API_JWT_SECRET"];
  if (!baseUrl || !secret) {
    throw new Error("TODO_API_URL and TODO_API_JWT_SECRET must name a served API (npm test sets them).");
  }
  return { baseUrl, secret };
}

/** A client for a new user of its own, and that user's id and token. */
export function newUser(
  options: Partial<Omit<TodoClientOptions, "getToken">> = {},
): { client: TodoClient; userId: string; token: string } {
  const { baseUrl, secret } = servedApi();
  const userId = newUserId();
  const token = mintToken(userId, secret);
  return { client: createTodoClient({ baseUrl, getToken: async () => token, ...options }), userId, token };
}

/** Another device of the same user: its own client, the same identity. */
export function deviceOf(token: string): TodoClient {
  return createTodoClient({ baseUrl: servedApi().baseUrl, getToken: async () => token });
}
