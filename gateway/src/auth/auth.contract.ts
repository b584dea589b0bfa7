import { describe, expect, it } from "vitest";
import { AuthError, type Authenticator, type Credentials } from "./auth.js";

export interface AuthFixture {
  readonly auth: Authenticator;
  /** Credentials that this authenticator accepts for `user`, however it is configured. */
  credentialsFor(user: string): Promise<Credentials>;
}

/** The behaviour every Authenticator must show; run it over each implementation. */
export function authContract(name: string, fixture: () => Promise<AuthFixture>): void {
  describe(`Authenticator contract: ${name}`, () => {
    it("accepts valid credentials and yields the user", async () => {
      const { auth, credentialsFor } = await fixture();
      await expect(auth.authenticate(await credentialsFor("alice"))).resolves.toMatchObject({ user: "alice" });
      await expect(auth.authenticate(await credentialsFor("bob.smith-2"))).resolves.toMatchObject({
        user: "bob.smith-2",
      });
    });

    it("rejects missing credentials with AuthError", async () => {
      const { auth } = await fixture();
      await expect(auth.authenticate({})).rejects.toBeInstanceOf(AuthError);
    });

    it("rejects a user id that is not a valid name", async () => {
      const { auth, credentialsFor } = await fixture();
      for (const user of ["", "has space", "a:b", "x".repeat(65), "-leading"]) {
        await expect(auth.authenticate(await credentialsFor(user))).rejects.toBeInstanceOf(AuthError);
      }
    });
  });
}
