// A minimal client until the full web app (issue: web client) lands. Text is only ever set with textContent.
const status = document.getElementById("status");
const list = document.getElementById("messages");
const signin = document.getElementById("signin");
const composer = document.getElementById("composer");
const bodyInput = document.getElementById("body");
let socket;
let room;
let user;
let lastSeq = 0;

function render(message) {
  const item = document.createElement("li");
  item.dataset.seq = String(message.seq);
  if (message.from === user) item.classList.add("mine");
  const from = document.createElement("span");
  from.className = "from";
  from.textContent = message.from;
  const text = document.createElement("span");
  text.textContent = message.body;
  item.append(from, text);
  list.append(item);
  list.scrollTop = list.scrollHeight;
}

async function loadHistory() {
  const response = await fetch(
    `/api/rooms/${encodeURIComponent(room)}/messages?limit=50&user=${encodeURIComponent(user)}`,
  );
  if (!response.ok) return;
  const page = await response.json();
  for (const message of page.messages) {
    render(message);
    lastSeq = Math.max(lastSeq, message.seq);
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws?user=${encodeURIComponent(user)}`);
  socket.onopen = () => {
    status.textContent = `Connected as ${user}`;
    socket.send(JSON.stringify({ t: "join", room, since: lastSeq }));
  };
  socket.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.t === "msg" && frame.seq > lastSeq) {
      lastSeq = frame.seq;
      render(frame);
    } else if (frame.t === "error") {
      status.textContent = `Error: ${frame.message}`;
    }
  };
  socket.onclose = () => {
    status.textContent = "Disconnected, reconnecting…";
    setTimeout(connect, 500 + Math.random() * 1500);
  };
}

signin.addEventListener("submit", async (event) => {
  event.preventDefault();
  user = signin.elements.name.value;
  room = signin.elements.room.value;
  signin.hidden = true;
  composer.hidden = false;
  await loadHistory();
  connect();
  bodyInput.focus();
});

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const body = bodyInput.value;
  if (!body.trim() || socket?.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify({ t: "send", room, cid: crypto.randomUUID(), body }));
  bodyInput.value = "";
});

bodyInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    composer.requestSubmit();
  }
});
