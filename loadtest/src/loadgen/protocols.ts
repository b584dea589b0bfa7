import { centrifugo } from "./centrifugo.js";
import { parley } from "./parley.js";
import type { Protocol } from "./protocol.js";
import { socketIo } from "./socketio.js";

/** The systems the generator speaks to, by the name a worker is told over IPC. */
export const PROTOCOL_NAMES = ["parley", "socketio", "centrifugo"] as const;
export type ProtocolName = (typeof PROTOCOL_NAMES)[number];

export function protocolNamed(name: ProtocolName): Protocol {
  switch (name) {
    case "parley":
      return parley;
    case "socketio":
      return socketIo;
    case "centrifugo":
      return centrifugo;
    default:
      throw new Error(`unknown protocol "${String(name)}" (expected ${PROTOCOL_NAMES.join(", ")})`);
  }
}
