import { numberAfter, textAfter } from "./fields.js";
import type { Protocol, ProtocolEvents } from "./protocol.js";

const TYPE = '"t":"';

/**
 * Parley's wire protocol v1 (`protocol/src/frames.ts`), core frames only, with dev auth (`?user=`): also what the bare
 * uWS reference (`loadtest/src/reference-server.ts`) speaks. The stamp travels as the body, a number in a string;
 * rooms and cids are written unescaped, as the generator's are plain names. Frames the benchmark has no use for
 * (presence, persisted, typing, pong, left) are ignored.
 */
export const parley: Protocol = {
  name: "parley",
  url: (target, user) => `${target}/ws?user=${encodeURIComponent(user)}`,
  opened: (room) => [`{"t":"join","room":"${room}"}`],
  send: (room, cid, stamp) => `{"t":"send","room":"${room}","cid":"${cid}","body":"${stamp}"}`,
  read(frame: string, events: ProtocolEvents): void {
    const at = frame.indexOf(TYPE);
    // The first letter tells the core types apart: msg, ack, joined, error.
    const type = at < 0 ? Number.NaN : frame.charCodeAt(at + TYPE.length);
    if (type === 109 /* m */) events.message(numberAfter(frame, '"body":"', at));
    else if (type === 97 /* a */) {
      const cid = textAfter(frame, '"cid":"');
      if (cid === undefined) events.error(frame);
      else events.ack(cid);
    } else if (type === 106 /* j */) events.joined();
    else if (type === 101 /* e */ || at < 0) events.error(frame);
  },
};
