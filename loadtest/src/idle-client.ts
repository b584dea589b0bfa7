/**
 * One client process of the idle-connections benchmark: opens COUNT connections to URL from SOURCE_ADDRESS, joins
 * each to a room of 100 (unless JOIN is 0), reports `{ open, failed }` to its parent and keeps them open until killed.
 */
import WebSocket from "ws";

const [url = "", first = "0", count = "0", localAddress = "127.0.0.1", join = "1"] = process.argv.slice(2);
const sockets: WebSocket[] = [];
let open = 0;
let failed = 0;

function connect(n: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`${url}user=idle${n}`, { localAddress, perMessageDeflate: false });
    socket.once("open", () => {
      open++;
      if (join === "1") socket.send(JSON.stringify({ t: "join", room: `idle-${Math.floor(n / 100)}` }));
      resolve();
    });
    socket.once("error", () => {
      failed++;
      resolve();
    });
    sockets.push(socket);
  });
}

const start = Number(first);
const total = Number(count);
// A few hundred handshakes in flight at a time: fast, without a SYN flood on loopback.
for (let n = start; n < start + total; n += 200) {
  await Promise.all(Array.from({ length: Math.min(200, start + total - n) }, (_, i) => connect(n + i)));
}
process.send?.({ open, failed });
