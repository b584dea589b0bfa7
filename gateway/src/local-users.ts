import type { Bus, BusEvent } from "./bus/bus.js";

/** A connection events addressed to its user (rather than to a room) are delivered to. */
export interface UserConnection {
  readonly user: string;
  /** An entry of the user's inbox changed: `frame` is the wire frame. */
  inbox(frame: string): void;
}

/**
 * This gateway's connections by user, for the events addressed to a user wherever they are connected (their
 * inbox). The Bus subscription of a user exists exactly while they have a connection here: made by the first, dropped
 * after the last. A user with one connection, the usual case, is kept as that connection rather than a set of one.
 */
export class LocalUsers {
  readonly #users = new Map<string, UserConnection | Set<UserConnection>>();

  constructor(
    private readonly bus: Pick<Bus, "subscribeUser" | "unsubscribeUser">,
    private readonly onBackgroundError: (user: string, error: unknown) => void,
  ) {}

  add(connection: UserConnection): void {
    const { user } = connection;
    const present = this.#users.get(user);
    if (present === undefined) {
      this.#users.set(user, connection);
      this.bus.subscribeUser(user).catch((error: unknown) => this.onBackgroundError(user, error));
    } else if (present instanceof Set) present.add(connection);
    else this.#users.set(user, new Set([present, connection]));
  }

  remove(connection: UserConnection): void {
    const { user } = connection;
    const present = this.#users.get(user);
    if (present instanceof Set) {
      present.delete(connection);
      if (present.size === 1) this.#users.set(user, present.values().next().value as UserConnection);
      return;
    }
    if (present !== connection) return;
    this.#users.delete(user);
    this.bus.unsubscribeUser(user).catch((error: unknown) => this.onBackgroundError(user, error));
  }

  deliver(event: BusEvent & { t: "inbox" }): void {
    const present = this.#users.get(event.user);
    if (present instanceof Set) for (const connection of present) connection.inbox(event.frame);
    else present?.inbox(event.frame);
  }
}
