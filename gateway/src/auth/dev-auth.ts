import { NAME_PATTERN } from "@parley/protocol";
import { AuthError, type Authenticator, type Credentials, type Identity } from "./auth.js";

/**
 * Development mode: the client says who it is with `?user=name`, and `&admin=1` makes it an admin. Never use it where
 * anyone can connect.
 */
export class DevAuthenticator implements Authenticator {
  async authenticate({ user, admin = false }: Credentials): Promise<Identity> {
    if (user === undefined) throw new AuthError("missing ?user= (dev auth mode)");
    if (!NAME_PATTERN.test(user)) throw new AuthError("invalid user name");
    return { user, admin };
  }
}
