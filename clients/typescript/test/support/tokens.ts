import { createHmac, randomUUID } from "node:crypto";

/** An HS256 token for `sub`, signed with the served API's JWT_SECRET (as `make token` does). */
export function mintToken(sub: string, secret: string, lifetimeSeconds = 3600): string {
  const now = Math.floor(Date.now() / 1000);
  const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString("base64url");
  const signingInput = `${encode({ alg: "HS256", typ: "JWT" })}.${encode({ sub, iat: now, exp: now + lifetimeSeconds })}`;
  const signature = createHmac("sha256", secret).update(signingInput).digest("base64url");
  return `${signingInput}.${signature}`;
}

/** A user id no other test uses (opaque, like Better Auth's). */
export function newUserId(): string {
  return `user-${randomUUID().replace(/-/g, "")}`;
}
