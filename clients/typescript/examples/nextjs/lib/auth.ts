// Better Auth on the server, with the jwt plugin the Todo API verifies tokens of
// (JWT_JWKS_URL=<your app's URL>/api/auth/jwks; see the API's docs/identity.md).
import { betterAuth } from "better-auth";
import { jwt } from "better-auth/plugins";

export const auth = betterAuth({
  emailAndPassword: { enabled: true },
  plugins: [jwt()],
});
