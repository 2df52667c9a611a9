/**
 * `npm test`: serve the API (`python -m app.serve`, APP_ENV=production, a generated
 * JWT_SECRET, a free port) on a fresh database of the local PostgreSQL, run the tests and the
 * quickstart example against it, then stop the server and drop the database.
 *
 * TEST_DATABASE_URL names the server (default postgresql://postgres@127.0.0.1:5432/postgres).
 * With TODO_API_URL and TODO_API_JWT_SECRET already set, the tests run against that API instead.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { mintToken, newUserId } from "./support/tokens.js";

const packageDir = fileURLToPath(new URL("../..", import.meta.url));
const backendDir = process.env["TODO_API_BACKEND"] ?? resolve(packageDir, "../../backend");
const python = join(backendDir, ".venv/bin/python");
const adminUrl = process.env["TEST_DATABASE_URL"] ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const STARTUP_SECONDS = 60;

// CREATE/DROP DATABASE through the backend's own driver (asyncpg), so nothing else is needed.
const DATABASE_ADMIN = `
import asyncio, sys
import asyncpg
async def main(url, statement):
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
asyncio.run(main(sys.argv[1], sys.argv[2]))
`;

function administer(statement: string): void {
  const result = spawnSync(python, ["-c", DATABASE_ADMIN, adminUrl, statement], { encoding: "utf-8" });
  if (result.status !== 0) throw new Error(`${statement} failed:\n${result.stderr}`);
}

function databaseUrl(name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolvePort(address.port) : reject(new Error("no port"))));
    });
  });
}

async function waitUntilServing(baseUrl: string, server: ChildProcess, log: string): Promise<void> {
  const deadline = Date.now() + STARTUP_SECONDS * 1000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`the server exited at start-up:\n${readFileSync(log, "utf-8")}`);
    try {
      if ((await fetch(`${baseUrl}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((wake) => setTimeout(wake, 200));
  }
  throw new Error(`the server did not answer in ${STARTUP_SECONDS}s:\n${readFileSync(log, "utf-8")}`);
}

/** SIGTERM to the server's process group (granian's workers with it), then SIGKILL. */
async function stop(server: ChildProcess): Promise<void> {
  const group = -(server.pid ?? 0);
  if (server.exitCode === null) {
    const exited = new Promise((done) => server.once("exit", done));
    process.kill(group, "SIGTERM");
    await Promise.race([exited, new Promise((wake) => setTimeout(wake, 10_000))]);
  }
  try {
    process.kill(group, "SIGKILL");
  } catch {
    // the group is gone already
  }
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): number {
  return spawnSync(command, args, { stdio: "inherit", env, cwd: packageDir }).status ?? 1;
}

function runTestsAndExample(env: NodeJS.ProcessEnv): number {
  const testDir = join(packageDir, "build/test");
  const files = readdirSync(testDir)
    .filter((name) => name.endsWith(".test.js"))
    .map((name) => join(testDir, name));
  const tests = run(process.execPath, ["--test", "--test-concurrency=1", ...files], env);
  console.log("\n== examples/quickstart.ts against the served API");
  // The example reads its token from the environment, as a script of yours would.
  const token = mintToken(newUserId(), env["TODO_API_JWT_SECRET"] ?? "");
  const example = run(process.execPath, [join(packageDir, "build/examples/quickstart.js")], {
    ...env,
    TODO_API_TOKEN: token,
  });
  return tests || example;
}

async function main(): Promise<number> {
  if (process.env["TODO_API_URL"] && process.env["TODO_API_JWT_SECRET"]) {
    return runTestsAndExample(process.env);
  }
  const database = `todo_client_${randomBytes(6).toString("hex")}`;
  const secret = randomBytes(48).toString("base64url");
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const temp = mkdtempSync(join(tmpdir(), "todo-client-test-"));
  const log = join(temp, "server.log");
  administer(`CREATE DATABASE "${database}"`);
  let server: ChildProcess | undefined;
  try {
    server = spawn(python, ["-m", "app.serve"], {
      cwd: backendDir,
      env: {
        ...process.env,
        APP_ENV: "production",
        DATABASE_URL: databaseUrl(database),
        JWT_SECRET: secret,
        HOST: "127.0.0.1",
        PORT: String(port),
        WORKERS: "1",
        LOG_LEVEL: "warning",
      },
      stdio: ["ignore", openSync(log, "w"), openSync(log, "a")],
      detached: true, // its own process group, stopped as one
    });
    await waitUntilServing(baseUrl, server, log);
    console.log(`== the API served at ${baseUrl} (APP_ENV=production, database ${database})`);
    const status = runTestsAndExample({ ...process.env, TODO_API_URL: baseUrl, TODO_API_JWT_SECRET: secret });
    if (status !== 0) console.error(`\n== server log:\n${readFileSync(log, "utf-8")}`);
    return status;
  } finally {
    if (server) await stop(server);
    administer(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    rmSync(temp, { recursive: true, force: true });
  }
}

main().then(
  (status) => process.exit(status),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
