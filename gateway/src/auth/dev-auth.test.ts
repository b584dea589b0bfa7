import { authContract } from "./auth.contract.js";
import { DevAuthenticator } from "./dev-auth.js";

authContract("dev", async () => ({ auth: new DevAuthenticator(), credentialsFor: async (user) => ({ user }) }));
