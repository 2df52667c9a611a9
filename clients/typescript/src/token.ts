/**
 * The user id a token speaks for: its `sub` claim. The token is only read here, not verified:
 * the API verifies every token, and a wrong `sub` can only ever reach the caller's own data.
 */
export function subjectOf(token: string): string {
  const parts = token.split(".");
  const payload = parts[1];
  if (parts.length !== 3 || payload === undefined) {
    throw new TypeError("The token is not a JWT (three dot-separated parts).");
  }
  let claims: unknown;
  try {
    claims = JSON.parse(decodeBase64Url(payload));
  } catch (cause) {
    throw new TypeError("The token's payload is not base64url-encoded JSON.", { cause });
  }
  const sub = (claims as { sub?: unknown } | null)?.sub;
  if (typeof sub !== "string" || sub === "") {
    throw new TypeError("The token has no `sub` claim.");
  }
  return sub;
}

function decodeBase64Url(text: string): string {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}
