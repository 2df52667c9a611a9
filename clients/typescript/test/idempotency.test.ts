import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { newUser } from "./support/api.js";

interface Attempt {
  method: string;
  key: string | null;
  status: number;
  replayed: string | null;
}

/**
 * A fetch whose first answer to a POST is lost after the server has acted on it (the
 * connection drops on the way back), as on a flaky mobile network; it records every attempt.
 */
function droppingFirstPost(): { fetch: (request: Request) => Promise<Response>; attempts: Attempt[] } {
  const attempts: Attempt[] = [];
  let dropped = false;
  return {
    attempts,
    fetch: async (request) => {
      const response = await fetch(request);
      if (request.method === "POST") {
        attempts.push({
          method: request.method,
          key: request.headers.get("Idempotency-Key"),
          status: response.status,
          replayed: response.headers.get("Idempotent-Replayed"),
        });
        if (!dropped) {
          dropped = true;
          await response.arrayBuffer();
          throw new TypeError("fetch failed: the connection was reset");
        }
      }
      return response;
    },
  };
}

describe("automatic Idempotency-Key", () => {
  it("a create whose answer was lost is retried with the same key: one task", async () => {
    const network = droppingFirstPost();
    const { client } = newUser({ fetch: network.fetch, retry: { baseDelayMs: 10 } });
    const task = await client.createTask({ title: "Exactly once" });

    assert.equal(network.attempts.length, 2);
    const [first, retry] = network.attempts;
    assert.equal(first?.status, 201);
    assert.match(first?.key ?? "", /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(retry?.key, first?.key, "the retry reuses the call's key");
    assert.equal(retry?.status, 201);
    assert.equal(retry?.replayed, "true", "the server replayed the first answer");

    const { tasks, total } = await client.listTasks();
    assert.equal(total, 1);
    assert.equal(tasks[0]?.id, task.id);
  });

  it("each call gets a fresh key: two creates of the same body make two tasks", async () => {
    const keys: (string | null)[] = [];
    const { client } = newUser({
      fetch: async (request) => {
        keys.push(request.headers.get("Idempotency-Key"));
        return fetch(request);
      },
    });
    await client.createTask({ title: "Same" });
    await client.createTask({ title: "Same" });
    assert.equal(keys.length, 2);
    assert.notEqual(keys[0], keys[1]);
    assert.equal((await client.listTasks()).total, 2);
  });

  it("a batch whose answer was lost is retried with the same key: applied once", async () => {
    const network = droppingFirstPost();
    const { client } = newUser({ fetch: network.fetch, retry: { baseDelayMs: 10 } });
    const { results } = await client.batch({
      operations: [
        { op: "create", data: { title: "A" } },
        { op: "create", data: { title: "B" } },
      ],
    });
    assert.deepEqual(results.map((r) => r.status), [201, 201]);
    assert.equal(network.attempts.length, 2);
    assert.equal(network.attempts[1]?.key, network.attempts[0]?.key);
    assert.equal(network.attempts[1]?.replayed, "true");
    assert.equal((await client.listTasks()).total, 2);
  });

  it("without retries, the lost answer surfaces as network_error (and the task exists)", async () => {
    const network = droppingFirstPost();
    const { client } = newUser({ fetch: network.fetch, retry: { retries: 0 } });
    await assert.rejects(client.createTask({ title: "Lost" }), { status: 0, code: "network_error" });
    assert.equal((await client.listTasks()).total, 1);
  });
});
