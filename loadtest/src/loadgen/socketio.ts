import { numberAfter } from "./fields.js";
import type { Protocol, ProtocolEvents } from "./protocol.js";

const MESSAGE = '42["msg",';

/**
 * The Socket.IO baseline (`loadtest/src/socketio-server.ts`) as a plain WebSocket client speaks to it: Engine.IO v4
 * packets carrying Socket.IO v5 ones. The server opens with `0{...}`, the client connects to the main namespace
 * with `40` and, once the server confirms with `40{...}`, joins its room with an event whose ack id is 0; the
 * server pings with `2` and is answered `3`. A send is an event with an ack id, and that id is the cid, so the
 * generator's cids must be decimal integers other than 0 (the join's); the ack comes back as `43<id>[...]`.
 */
export const socketIo: Protocol = {
  name: "socketio",
  url: (target, user) => `${target}/socket.io/?EIO=4&transport=websocket&user=${encodeURIComponent(user)}`,
  opened: () => [],
  send: (room, cid, stamp) => `42${cid}["send",{"room":"${room}","cid":"${cid}","body":"${stamp}"}]`,
  read(frame: string, events: ProtocolEvents): void {
    if (frame.startsWith(MESSAGE)) events.message(numberAfter(frame, '"body":"', MESSAGE.length));
    else if (frame === "2") events.reply("3");
    else if (frame.startsWith("43")) {
      const end = frame.indexOf("[", 2);
      if (end === 3 && frame.charCodeAt(2) === 48 /* 0: the join */) events.joined();
      else if (end < 0) events.error(frame);
      else events.ack(frame.slice(2, end));
    } else if (frame.startsWith("40")) events.reply(`420["join","${events.room}"]`);
    else if (frame.startsWith("0")) events.reply("40");
    else if (frame.startsWith("44")) events.error(frame);
  },
};
