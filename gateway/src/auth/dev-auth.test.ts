import { describe, expect, it } from "vitest";
import { authContract } from "./auth.contract.js";
import { DevAuthenticator } from "./dev-auth.js";

authContract("dev", async () => ({ auth: new DevAuthenticator(), credentialsFor: async (user) => ({ user }) }));

describe("DevAuthenticator", () => {
  it("makes an admin of a client that asks with ?admin=1, and nobody else", async () => {
    const auth = new DevAuthenticator();
    await expect(auth.authenticate({ user: "mod", admin: true })).resolves.toEqual({ user: "mod", admin: true });
    await expect(auth.authenticate({ user: "ann" })).resolves.toEqual({ user: "ann", admin: false });
  });
});
