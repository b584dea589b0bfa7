import { createHmac } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { dmRoom, MAX_UNREAD } from "@parley/protocol";
import { serviceEnv, uniqueName, waitFor } from "@parley/testkit";
import { GatewayProcess } from "@parley/testkit/gateway-process";
import { Stack } from "@parley/testkit/stack";
import { TestClient } from "@parley/testkit/ws-client";
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Balancer } from "./proxy.js";

const WEB_DIST = fileURLToPath(new URL("../dist", import.meta.url));
/** A 1×1 PNG. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=",
  "base64",
);
const CHROMIUM = process.env.PARLEY_CHROMIUM ?? "/usr/bin/chromium";
/** Few replayed messages on join, so history paging starts early. */
const MAX_REPLAY = 20;

const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** One browser for the file (a fresh temporary profile, removed on close); each test uses its own contexts. */
let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
});
afterAll(async () => {
  await browser?.close();
});

/**
 * The web client in Debian's chromium against the distributed stack (2 gateways on real Redis, Kafka, PostgreSQL and a
 * persister). Each browser context reaches the gateways through its own balancer, like an ingress would.
 */
describe("web client in a browser", () => {
  let stack: Stack;
  const contexts: BrowserContext[] = [];
  const balancers: Balancer[] = [];
  const dialogs: string[] = [];
  const pageErrors: string[] = [];
  /** Every frame each page sent on its WebSockets, decoded. */
  const framesSent = new Map<Page, { t?: string; room?: string }[]>();

  beforeAll(async () => {
    const s3 = serviceEnv().s3;
    stack = await Stack.start({
      gatewayEnv: {
        PARLEY_WEB_DIR: WEB_DIST,
        // Files on the local SeaweedFS, as in the cluster: browsers upload to it and fetch from it directly.
        PARLEY_FILES: "s3",
        PARLEY_S3_ENDPOINT: s3.endpoint,
        PARLEY_S3_BUCKET: s3.bucket,
        PARLEY_S3_REGION: s3.region,
        PARLEY_S3_PREFIX: `${uniqueName("browser")}/`,
        PARLEY_S3_ACCESS_KEY_ID: s3.accessKeyId,
        PARLEY_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        PARLEY_MAX_REPLAY: String(MAX_REPLAY),
        // The history test seeds its room through one connection as fast as acks come back.
        PARLEY_RATE_PER_SECOND: "1000",
        PARLEY_RATE_BURST: "1000",
      },
    });
  });

  afterAll(async () => {
    await Promise.all(contexts.map((context) => context.close()));
    await Promise.all(balancers.map((balancer) => balancer.close()));
    await stack?.stop();
  });

  /**
   * A person in a fresh browser context, signed in (as an admin, who may delete anyone's messages, with `admin`),
   * reaching gateway `gateway` through a balancer.
   */
  async function person(
    gateway: number,
    name: string,
    { admin = false } = {},
  ): Promise<{ page: Page; balancer: Balancer }> {
    const target = stack.gateways[gateway];
    if (!target) throw new Error(`no gateway ${gateway}`);
    const balancer = await Balancer.start(target.port);
    balancers.push(balancer);
    // Reduced motion: no transitions, so what a screenshot shows has settled.
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 }, reducedMotion: "reduce" });
    contexts.push(context);
    const page = await context.newPage();
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    page.on("pageerror", (error) => pageErrors.push(error.message));
    framesSent.set(page, []);
    page.on("websocket", (socket) =>
      socket.on("framesent", ({ payload }) => framesSent.get(page)?.push(JSON.parse(String(payload)))),
    );
    page.on("console", (message) => {
      // A CSP violation is reported on the console: a policy the client breaks is a failure.
      if (message.type() === "error" && /Content Security Policy/i.test(message.text()))
        pageErrors.push(message.text());
    });
    await page.goto(balancer.origin);
    await page.getByLabel("Your name").fill(name);
    if (admin) await page.getByLabel("Admin: may delete anyone’s messages").check();
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator(".connection[data-status=online]").waitFor();
    return { page, balancer };
  }

  async function openRoom(page: Page, room: string): Promise<void> {
    await page.getByLabel("Join or create a room").fill(room);
    await page.getByLabel("Join or create a room").press("Enter");
    await page.getByRole("heading", { name: `#${room}` }).waitFor();
    await page.locator(".room-header", { hasText: "joining" }).waitFor({ state: "detached" });
  }

  const composer = (page: Page) => page.locator(".composer").getByRole("textbox");

  async function say(page: Page, body: string): Promise<void> {
    await composer(page).fill(body);
    await composer(page).press("Enter");
  }

  const bodies = (page: Page) => page.locator(".log .message .body").allTextContents();
  /** The message whose body has `text` (not one that quotes it). */
  const messageWith = (page: Page, text: string) =>
    page.locator(".log .message").filter({ has: page.locator(".body", { hasText: text }) });
  /** The `join`s a page sent for `room`: one per connection, more only if it saw a gap and rejoined to fill it. */
  const joinsOf = (page: Page, room: string) =>
    (framesSent.get(page) ?? []).filter((frame) => frame.t === "join" && frame.room === room).length;

  /** Opens a message's menu as a person with a mouse does: over the message, then its actions button. */
  async function openMenu(page: Page, message: Locator): Promise<Locator> {
    await message.hover();
    await message.getByRole("button", { name: /^Actions for / }).click();
    const menu = page.getByRole("menu", { name: "Message actions" });
    await menu.waitFor();
    return menu;
  }

  /** The active element's role and accessible name, as a screen reader would announce it. */
  const focused = (page: Page) =>
    page.evaluate<{ role?: string; name?: string }>(`(() => {
      const element = document.activeElement;
      return {
        role: element?.getAttribute("role") ?? element?.tagName.toLowerCase(),
        name: element?.getAttribute("aria-label") ?? element?.textContent?.trim(),
      };
    })()`);
  const focusedText = (page: Page) => page.evaluate<string | undefined>("document.activeElement?.textContent");

  it("lets two people on two gateways chat in a room and a DM, showing markup as text", async () => {
    const ann = uniqueName("ann");
    const ben = uniqueName("ben");
    const room = uniqueName("room");
    const [a, b] = await Promise.all([person(0, ann), person(1, ben)]);
    await Promise.all([openRoom(a.page, room), openRoom(b.page, room)]);

    const attack = "<img src=x onerror=alert(1)>";
    await say(a.page, attack);
    await say(a.page, "hello from gateway 0");
    await b.page.locator(".message", { hasText: "hello from gateway 0" }).waitFor();
    expect(await bodies(b.page)).toEqual([attack, "hello from gateway 0"]);
    expect(await b.page.locator(".log img").count()).toBe(0);

    // Own messages are marked, and their delivery goes on to durable (acked) and then stored (persisted).
    const mine = a.page.locator(".message.own", { hasText: "hello from gateway 0" });
    await mine.locator(".delivery-label", { hasText: /^(Sent|Saved)$/ }).waitFor();
    await expect.poll(() => mine.getAttribute("data-delivery"), { timeout: 30_000 }).toBe("persisted");
    expect(await b.page.locator(".message.own").count()).toBe(0);

    // Shift+Enter is a newline, Enter sends; an empty message is refused with a visible reason.
    await composer(b.page).fill("line one");
    await composer(b.page).press("Shift+Enter");
    await composer(b.page).pressSequentially("line two");
    await composer(b.page).press("Enter");
    await a.page.locator(".message", { hasText: "line two" }).waitFor();
    expect((await bodies(a.page)).at(-1)).toBe("line one\nline two");
    await composer(b.page).press("Enter");
    await b.page.getByRole("alert").filter({ hasText: "Type a message first." }).waitFor();

    // Typing shows on the other side.
    await composer(b.page).pressSequentially("typing");
    await a.page.getByText(`${ben} is typing…`).waitFor();

    // A message in a room the reader is not looking at counts as unread there.
    await say(a.page, "psst, the lobby");
    await a.page.locator(`[data-room="lobby"]`).click();
    await say(a.page, "in the lobby");
    await b.page.locator(`[data-room="lobby"] .badge`, { hasText: "1" }).waitFor();
    await b.page.locator(`[data-room="lobby"]`).click();
    await b.page.locator(".message", { hasText: "in the lobby" }).waitFor();
    await b.page.locator(`[data-room="lobby"] .badge`).waitFor({ state: "detached" });

    // Presence: both are listed in the room; a name in the list opens the direct conversation.
    await a.page.locator(`[data-room="${room}"]`).click();
    await a.page.locator(".members summary", { hasText: "2 here" }).click();
    await a.page.getByRole("list", { name: "People here" }).getByRole("button", { name: ben }).click();
    await a.page.getByRole("heading", { name: ben }).waitFor();
    await say(a.page, "just between us");
    // The conversation appears in ben's sidebar by itself: he opens it from there.
    await b.page.locator(`[data-room="${dmRoom(ann, ben)}"]`).click();
    await b.page.getByRole("heading", { name: ann }).waitFor();
    await b.page.locator(".message", { hasText: "just between us" }).waitFor();
    await say(b.page, "agreed");
    await a.page.locator(".message", { hasText: "agreed" }).waitFor();
    expect(await bodies(a.page)).toEqual(["just between us", "agreed"]);

    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it("puts a direct message in the recipient's sidebar at once, and gives their second device the same inbox", async () => {
    const ann = uniqueName("ann");
    const ben = uniqueName("ben");
    const room = uniqueName("room");
    const dm = dmRoom(ann, ben);
    const [a, b] = await Promise.all([person(0, ann), person(1, ben)]);
    await Promise.all([openRoom(a.page, room), openRoom(b.page, room)]);
    const badge = (page: Page, name: string) => page.locator(`[data-room="${name}"] .badge`);
    /** Each room in the sidebar with its unread count ("" for none). */
    const unread = (page: Page) =>
      page
        .locator(".room-list [data-room]")
        .evaluateAll((entries) =>
          Object.fromEntries(
            entries.map((entry) => [
              entry.getAttribute("data-room"),
              entry.querySelector(".badge")?.getAttribute("data-unread") ?? "",
            ]),
          ),
        );

    // Ann writes to ben, who never opened the conversation: it shows under his direct messages, unread, with its
    // first line as text, and he stays where he was.
    await a.page.getByLabel("Message a person").fill(ben);
    await a.page.getByLabel("Message a person").press("Enter");
    await a.page.getByRole("heading", { name: ben }).waitFor();
    await say(a.page, "<b>new</b> for you\nsecond line");
    const directs = b.page.getByRole("region", { name: "Direct messages" });
    await directs.locator(`[data-room="${dm}"] .badge`, { hasText: "1" }).waitFor();
    expect(await directs.locator(`[data-room="${dm}"] .room-last`).textContent()).toBe(
      ", last message: <b>new</b> for you",
    );
    expect(await directs.locator("b").count()).toBe(0);
    // A screen reader hears who, what they last said and how much is unread (the separators' spacing is the browser's).
    const announced = new RegExp(`^${ann}\\s*, last message: <b>new</b> for you\\s*1 unread$`);
    expect(await directs.getByRole("button", { name: announced }).count()).toBe(1);
    expect(await b.page.getByRole("heading", { name: `#${room}` }).isVisible()).toBe(true);

    // Ben opens it and reads it: the badge goes.
    await b.page.locator(`[data-room="${dm}"]`).click();
    await messageWith(b.page, "second line").waitFor();
    await badge(b.page, dm).waitFor({ state: "detached" });

    // While he is in the lobby, ann writes again and in the room.
    await b.page.locator(`[data-room="lobby"]`).click();
    await say(a.page, "one more");
    await a.page.locator(`[data-room="${room}"]`).click();
    await say(a.page, "news in the room");
    await badge(b.page, dm).filter({ hasText: "1" }).waitFor();
    await badge(b.page, room).filter({ hasText: "1" }).waitFor();

    // Ben's second device (its own storage, the other gateway) shows his rooms and the conversation, counted alike.
    const second = await person(0, ben);
    await badge(second.page, dm).filter({ hasText: "1" }).waitFor();
    await badge(second.page, room).filter({ hasText: "1" }).waitFor();
    expect(await unread(second.page)).toEqual({ lobby: "", [room]: "1", [dm]: "1" });
    expect(await unread(b.page)).toEqual(await unread(second.page));

    // Leaving the room on the second device takes it off the first.
    await second.page.getByRole("button", { name: `Leave #${room}` }).click();
    await b.page.locator(`[data-room="${room}"]`).waitFor({ state: "detached" });
    expect(await unread(b.page)).toEqual({ lobby: "", [dm]: "1" });

    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it("counts a room with more unread messages than the server counts as 1000+ on every device", async () => {
    const ben = uniqueName("ben");
    const room = uniqueName("busy");
    const first = await person(0, ben);
    await openRoom(first.page, room);
    await first.page.locator(`[data-room="lobby"]`).click();
    const writer = await TestClient.connect(stack.gateways[1]?.wsUrl("user=writer") ?? "");
    await writer.join(room);
    const total = MAX_UNREAD + 1;
    for (let n = 1; n <= total; n++) {
      writer.send({ t: "send", room, cid: `busy-${n}`, body: `busy ${n}` });
      await writer.next("ack", (frame) => frame.cid === `busy-${n}`);
    }
    await writer.next("persisted", (frame) => frame.room === room && frame.upTo >= total, { timeoutMs: 60_000 });
    writer.close();
    // Counted from the loaded messages on the device that had the room open, from the server's count on a new one
    // (whose join loads only the newest few).
    const second = await person(1, ben);
    for (const page of [first.page, second.page]) {
      const badge = page.locator(`[data-room="${room}"] .badge`);
      await badge.filter({ hasText: `${MAX_UNREAD}+ unread` }).waitFor();
      expect(await badge.getAttribute("data-unread")).toBe(String(MAX_UNREAD));
    }
    // Reading it on one device clears it on the other.
    await second.page.locator(`[data-room="${room}"]`).click();
    await second.page.locator(".message", { hasText: `busy ${total}` }).waitFor();
    await first.page.locator(`[data-room="${room}"] .badge`).waitFor({ state: "detached" });
    expect(pageErrors).toEqual([]);
  });

  it("shows Seen in a DM once the other person read it, and a room read on one device as read on the other", async () => {
    const ann = uniqueName("ann");
    const ben = uniqueName("ben");
    const room = uniqueName("room");
    const [a, b] = await Promise.all([person(0, ann), person(1, ben)]);
    await a.page.getByLabel("Message a person").fill(ben);
    await a.page.getByLabel("Message a person").press("Enter");
    await a.page.getByRole("heading", { name: ben }).waitFor();
    await say(a.page, "are you there?");
    const asked = messageWith(a.page, "are you there?");
    await asked.locator(".delivery-label", { hasText: /^(Sent|Saved)$/ }).waitFor();
    expect(await a.page.getByText("Seen", { exact: true }).count()).toBe(0);

    // Ben opens the DM and reads it: ann's message says so, in words.
    await b.page.getByLabel("Message a person").fill(ann);
    await b.page.getByLabel("Message a person").press("Enter");
    await b.page.locator(".message", { hasText: "are you there?" }).waitFor();
    await asked.getByText("Seen", { exact: true }).waitFor();
    await say(b.page, "yes");
    await messageWith(b.page, "yes").getByText("Seen", { exact: true }).waitFor();
    // Only the newest of one's messages the other has read carries it.
    await say(a.page, "good");
    await messageWith(a.page, "good").getByText("Seen", { exact: true }).waitFor();
    expect(await asked.getByText("Seen", { exact: true }).count()).toBe(0);

    // Ann on a second device (its own storage, the other gateway): a room read on the first is read on it too.
    const second = await person(1, ann);
    await Promise.all([openRoom(a.page, room), openRoom(second.page, room)]);
    await Promise.all([a.page, second.page].map((page) => page.locator(`[data-room="lobby"]`).click()));
    await openRoom(b.page, room);
    await say(b.page, "news in the room");
    for (const page of [a.page, second.page])
      await page.locator(`[data-room="${room}"] .badge`, { hasText: "1" }).waitFor();
    await a.page.locator(`[data-room="${room}"]`).click();
    await a.page.locator(".message", { hasText: "news in the room" }).waitFor();
    await second.page.locator(`[data-room="${room}"] .badge`).waitFor({ state: "detached" });

    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it("shows one person's edit and deletion to the other, on another gateway, as each happens", async () => {
    const ann = uniqueName("ann");
    const room = uniqueName("edits");
    const [a, b] = await Promise.all([person(0, ann), person(1, uniqueName("ben"))]);
    await Promise.all([openRoom(a.page, room), openRoom(b.page, room)]);
    await say(a.page, "helo wrld");
    await say(b.page, "hi ann");
    await messageWith(b.page, "helo wrld").waitFor();

    // Edit in place: Enter saves; both sides show the new body, marked edited.
    const mine = messageWith(a.page, "helo wrld");
    await (await openMenu(a.page, mine)).getByRole("menuitem", { name: "Edit" }).click();
    const editor = a.page.getByRole("textbox", { name: "Edit message" });
    expect(await editor.inputValue()).toBe("helo wrld");
    await editor.fill("hello world");
    await editor.press("Enter");
    for (const page of [a.page, b.page]) {
      await messageWith(page, "hello world").locator(".edited", { hasText: "(edited)" }).waitFor();
      expect(await bodies(page)).toEqual(["hello world", "hi ann"]);
    }
    // A message after the edit: the edit took a position in the stream, which is no gap to recover.
    await say(a.page, "and another");
    await messageWith(b.page, "and another").waitFor();

    // Only the author is offered edit and delete.
    const theirs = await openMenu(b.page, messageWith(b.page, "hello world"));
    expect(await theirs.getByRole("menuitem").allTextContents()).toEqual(["Reply"]);
    await b.page.keyboard.press("Escape");
    await theirs.waitFor({ state: "detached" });

    // Delete asks once more, then leaves a tombstone on both sides.
    await (await openMenu(a.page, messageWith(a.page, "hello world")))
      .getByRole("menuitem", { name: "Delete" })
      .click();
    await a.page
      .getByRole("group", { name: "Delete this message for everyone?" })
      .getByRole("button", { name: "Delete" })
      .click();
    for (const page of [a.page, b.page]) {
      await page.locator(".message.deleted .tombstone", { hasText: "Message deleted" }).waitFor();
      await expect.poll(() => bodies(page)).toEqual(["hi ann", "and another"]);
      expect(await page.locator(".log").textContent()).not.toContain("hello world");
    }
    expect(
      await a.page
        .locator(".message.deleted")
        .getByRole("button", { name: /^Actions for / })
        .count(),
    ).toBe(0);
    // Neither client saw a false gap: one join each, no rejoin to recover seqs that were edits or deletions.
    expect([joinsOf(a.page, room), joinsOf(b.page, room)]).toEqual([1, 1]);

    // An admin is offered Delete (not Edit) on someone else's message, and it goes for everyone.
    const admin = await person(1, uniqueName("mod"), { admin: true });
    await openRoom(admin.page, room);
    const moderated = await openMenu(admin.page, messageWith(admin.page, "and another"));
    expect(await moderated.getByRole("menuitem").allTextContents()).toEqual(["Reply", "Delete"]);
    await moderated.getByRole("menuitem", { name: "Delete" }).click();
    await admin.page
      .getByRole("group", { name: "Delete this message for everyone?" })
      .getByRole("button", { name: "Delete" })
      .click();
    for (const page of [a.page, b.page, admin.page]) await expect.poll(() => bodies(page)).toEqual(["hi ann"]);
    expect(pageErrors).toEqual([]);
  });

  it("shows the other's reaction as a chip with its count, and their reply with a quote of the message", async () => {
    const ann = uniqueName("ann");
    const ben = uniqueName("ben");
    const room = uniqueName("reactions");
    const [a, b] = await Promise.all([person(0, ann), person(1, ben)]);
    await Promise.all([openRoom(a.page, room), openRoom(b.page, room)]);
    await say(a.page, "lunch at noon?");
    await messageWith(b.page, "lunch at noon?").waitFor();

    // Ben reacts from the menu's quick reactions: a pressed chip for him, a count of one for ann.
    await (await openMenu(b.page, messageWith(b.page, "lunch at noon?")))
      .getByRole("menuitemcheckbox", { name: "React with thumbs up" })
      .click();
    await b.page.getByRole("button", { name: "thumbs up: 1 reaction, including yours", pressed: true }).waitFor();
    const annChip = messageWith(a.page, "lunch at noon?").getByRole("button", { name: /^thumbs up:/ });
    await expect.poll(() => annChip.getAttribute("aria-label")).toBe("thumbs up: 1 reaction");
    expect(await annChip.getAttribute("aria-pressed")).toBe("false");
    expect(await annChip.textContent()).toBe("👍1");
    // Ann clicks the chip: the count is two on both sides, and counts each person once.
    await annChip.click();
    await expect.poll(() => annChip.getAttribute("aria-label")).toBe("thumbs up: 2 reactions, including yours");
    const benChip = messageWith(b.page, "lunch at noon?").getByRole("button", { name: /^thumbs up:/ });
    await expect.poll(() => benChip.getAttribute("aria-label")).toBe("thumbs up: 2 reactions, including yours");
    await benChip.click();
    await expect.poll(() => annChip.getAttribute("aria-label")).toBe("thumbs up: 1 reaction, including yours");

    // Ben replies: the composer says to whom, and ann sees the answer quoting her message.
    await (await openMenu(b.page, messageWith(b.page, "lunch at noon?")))
      .getByRole("menuitem", { name: "Reply" })
      .click();
    await b.page.locator(".replying", { hasText: `Replying to ${ann}` }).waitFor();
    expect(await focused(b.page)).toMatchObject({ role: "textarea" });
    await b.page.keyboard.type("yes, the usual place");
    await b.page.keyboard.press("Enter");
    await b.page.locator(".replying").waitFor({ state: "detached" });
    const reply = messageWith(a.page, "yes, the usual place");
    await reply.locator(".reply-quote", { hasText: "You" }).waitFor();
    expect(await reply.locator(".reply-excerpt").textContent()).toBe("lunch at noon?");
    expect(await messageWith(b.page, "yes, the usual place").locator(".reply-from").textContent()).toBe(ann);
    // The quote leads to the message it answers.
    await reply.locator(".reply-quote").click();
    expect(await focusedText(a.page)).toContain("lunch at noon?");

    // The answered message is deleted: the quote says so.
    await (await openMenu(a.page, messageWith(a.page, "lunch at noon?")))
      .getByRole("menuitem", { name: "Delete" })
      .click();
    await a.page.getByRole("button", { name: "Delete", exact: true }).click();
    await messageWith(b.page, "yes, the usual place").locator(".reply-quote", { hasText: "deleted message" }).waitFor();

    // A reload shows the same conversation, rebuilt from the server.
    await b.page.reload();
    await messageWith(b.page, "yes, the usual place").locator(".reply-quote", { hasText: "deleted message" }).waitFor();
    await b.page.locator(".message.deleted").waitFor();
    expect(await b.page.locator(".reaction-chip").count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });

  it("shares files between two people on two gateways: picked, pasted and dropped; previews and downloads", async () => {
    const ann = uniqueName("ann");
    const ben = uniqueName("ben");
    const room = uniqueName("files");
    const [a, b] = await Promise.all([person(0, ann), person(1, ben)]);
    await Promise.all([openRoom(a.page, room), openRoom(b.page, room)]);

    // Ann picks an image and an HTML page with the attach button; each uploads at once, with a progress bar.
    const html = "<!doctype html><script>alert('ran')</script>";
    const chooser = a.page.waitForEvent("filechooser");
    await a.page.getByRole("button", { name: "Attach files" }).click();
    await (await chooser).setFiles([
      { name: "dot.png", mimeType: "image/png", buffer: PNG },
      { name: "page.html", mimeType: "text/html", buffer: Buffer.from(html) },
    ]);
    for (const name of ["dot.png", "page.html"]) {
      await a.page.locator(".upload", { hasText: name }).getByText("uploaded").waitFor();
    }
    await say(a.page, "the plan, and a picture");
    await a.page.locator(".uploads").waitFor({ state: "detached" });

    // Ben, on the other gateway, sees the image inline, fetched from S3 ...
    const received = messageWith(b.page, "the plan, and a picture");
    const image = received.getByRole("img", { name: "dot.png" });
    await expect
      .poll(() =>
        image.evaluate((img) => {
          const shown = img as unknown as { complete: boolean; naturalWidth: number };
          return shown.complete && shown.naturalWidth;
        }),
      )
      .toBe(1);
    // ... and the page as a chip that downloads it: saved under its name, never opened as a page.
    const download = b.page.waitForEvent("download");
    await received.getByRole("button", { name: /page\.html/ }).click();
    const saved = await download;
    expect(saved.suggestedFilename()).toBe("page.html");
    expect(await readFile(await saved.path())).toEqual(Buffer.from(html));
    expect(new URL(b.page.url()).origin).toBe(b.balancer.origin);
    expect(dialogs).toEqual([]);

    // Ben pastes one file and drops another, and sends them without a word.
    const textarea = composer(b.page);
    // What a browser dispatches for a paste and a drop of files (DOM code, run in the page).
    await b.page.evaluate(`(() => {
      const data = new DataTransfer();
      data.items.add(new File(["pasted words"], "pasted.txt", { type: "text/plain" }));
      const paste = new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true });
      document.querySelector(".composer textarea").dispatchEvent(paste);
    })()`);
    await b.page.evaluate(`(() => {
      const data = new DataTransfer();
      data.items.add(new File(["dropped words"], "dropped.txt", { type: "text/plain" }));
      for (const type of ["dragover", "drop"]) {
        const event = new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true });
        document.querySelector(".composer").dispatchEvent(event);
      }
    })()`);
    for (const name of ["pasted.txt", "dropped.txt"]) {
      await b.page.locator(".upload", { hasText: name }).getByText("uploaded").waitFor();
    }
    await textarea.press("Enter");
    const files = a.page
      .locator(".log .message")
      .filter({ has: a.page.locator(".file-chip", { hasText: "pasted.txt" }) });
    await files.locator(".file-chip", { hasText: "dropped.txt" }).waitFor();
    expect(await files.locator(".body").count()).toBe(0);
    const pasted = a.page.waitForEvent("download");
    await files.getByRole("button", { name: /pasted\.txt/ }).click();
    expect(await readFile(await (await pasted).path(), "utf8")).toBe("pasted words");

    // Deleting the message deletes its files: the chips go for both.
    await (await openMenu(a.page, messageWith(a.page, "the plan, and a picture")))
      .getByRole("menuitem", { name: "Delete" })
      .click();
    await a.page.getByRole("button", { name: "Delete", exact: true }).click();
    await b.page.locator(".message.deleted").waitFor();
    expect(await b.page.getByRole("img", { name: "dot.png" }).count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });

  it("works the message menu, editing and replying from the keyboard, and gives the focus back", async () => {
    const room = uniqueName("keys");
    const { page } = await person(0, uniqueName("kim"));
    await openRoom(page, room);
    await say(page, "keyboard only");
    const message = page.locator(".message[data-seq]", { hasText: "keyboard only" });
    await message.waitFor();
    const actions = message.getByRole("button", { name: "Actions for your message" });

    // From the composer, Shift+Tab reaches the newest message's actions button, shown once focused.
    expect(await focused(page)).toMatchObject({ role: "textarea" });
    await page.keyboard.press("Shift+Tab");
    expect(await focused(page)).toEqual({ role: "button", name: "Actions for your message" });
    await expect
      .poll(() => actions.evaluate((button) => button.ownerDocument.defaultView?.getComputedStyle(button).opacity))
      .toBe("1");
    expect(await actions.getAttribute("aria-haspopup")).toBe("menu");
    await page.keyboard.press("Enter");
    const menu = page.getByRole("menu", { name: "Message actions" });
    await menu.waitFor();
    expect(await actions.getAttribute("aria-expanded")).toBe("true");
    expect(await focused(page)).toEqual({ role: "menuitemcheckbox", name: "React with thumbs up" });
    await page.keyboard.press("End");
    expect(await focused(page)).toEqual({ role: "menuitem", name: "Delete" });
    await page.keyboard.press("ArrowDown");
    expect(await focused(page)).toEqual({ role: "menuitemcheckbox", name: "React with thumbs up" });
    await page.keyboard.press("ArrowLeft");
    expect(await focused(page)).toEqual({ role: "menuitem", name: "Delete" });
    // Escape closes it and the focus is back on the button.
    await page.keyboard.press("Escape");
    await menu.waitFor({ state: "detached" });
    expect(await focused(page)).toEqual({ role: "button", name: "Actions for your message" });
    expect(await actions.getAttribute("aria-expanded")).toBe("false");

    // ArrowDown opens it too; react with the second quick reaction.
    await page.keyboard.press("ArrowDown");
    await menu.waitFor();
    await page.keyboard.press("ArrowRight");
    expect(await focused(page)).toEqual({ role: "menuitemcheckbox", name: "React with heart" });
    await page.keyboard.press("Enter");
    await menu.waitFor({ state: "detached" });
    expect(await focused(page)).toEqual({ role: "button", name: "Actions for your message" });
    await message.getByRole("button", { name: "heart: 1 reaction, including yours", pressed: true }).waitFor();
    await page.keyboard.press("Enter");
    expect(await menu.getByRole("menuitemcheckbox", { name: "React with heart" }).getAttribute("aria-checked")).toBe(
      "true",
    );
    // Tab closes it as well, keeping the focus on the button.
    await page.keyboard.press("Tab");
    await menu.waitFor({ state: "detached" });
    expect(await focused(page)).toEqual({ role: "button", name: "Actions for your message" });

    // Edit: Escape cancels and changes nothing; Enter saves.
    await page.keyboard.press("ArrowUp");
    expect(await focused(page)).toEqual({ role: "menuitem", name: "Delete" });
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("Enter");
    const editor = page.getByRole("textbox", { name: "Edit message" });
    await editor.waitFor();
    expect(await focused(page)).toMatchObject({ role: "textarea" });
    await page.keyboard.type(" (not kept)");
    await page.keyboard.press("Escape");
    await editor.waitFor({ state: "detached" });
    expect(await bodies(page)).toEqual(["keyboard only"]);
    expect(await focused(page)).toEqual({ role: "button", name: "Actions for your message" });
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("Enter");
    await page.keyboard.type(", edited");
    await page.keyboard.press("Enter");
    await message.locator(".edited", { hasText: "(edited)" }).waitFor();
    expect(await bodies(page)).toEqual(["keyboard only, edited"]);
    expect(await focused(page)).toEqual({ role: "button", name: "Actions for your message" });

    // Reply: the composer takes the focus and names the message; Escape there cancels the reply.
    await page.keyboard.press("Enter");
    await menu.waitFor();
    for (const key of ["End", "ArrowUp", "ArrowUp"]) await page.keyboard.press(key);
    expect(await focused(page)).toEqual({ role: "menuitem", name: "Reply" });
    await page.keyboard.press("Enter");
    await page.locator(".replying", { hasText: "Replying to yourself" }).waitFor();
    expect(await focused(page)).toMatchObject({ role: "textarea" });
    await page.keyboard.press("Escape");
    await page.locator(".replying").waitFor({ state: "detached" });

    // Delete from the keyboard: the question takes the focus, Escape keeps the message, Enter on Delete removes it.
    await actions.focus();
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("Enter");
    expect(await focused(page)).toEqual({ role: "button", name: "Delete" });
    await page.keyboard.press("Escape");
    expect(await focused(page)).toEqual({ role: "button", name: "Actions for your message" });
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("Enter");
    await page.keyboard.press("Enter");
    await page.locator(".message.deleted", { hasText: "Message deleted" }).waitFor();
    // The message has no button any more: the focus is on the tombstone, not lost to the page.
    expect(await page.evaluate<boolean>('document.activeElement?.classList.contains("message") === true')).toBe(true);
    expect(pageErrors).toEqual([]);
  });

  it("pages in older messages as they stand now: edited, deleted, with their reactions and replies", async () => {
    const room = uniqueName("standing");
    const gateway = stack.gateways[0];
    if (!gateway) throw new Error("no gateway");
    const [sam, lee] = await Promise.all([gateway.connect("sam"), gateway.connect("lee")]);
    await Promise.all([sam.join(room), lee.join(room)]);
    const acked = async (client: TestClient, frame: Record<string, unknown> & { cid: string }) => {
      const from = client.frames.length;
      client.send({ room, ...frame });
      return (await client.next("ack", (ack) => ack.cid === frame.cid, { from })).seq;
    };
    const first = await acked(sam, { t: "send", cid: "h1", body: "the plan, draft" });
    await acked(lee, { t: "react", seq: first, emoji: "👍", on: true, cid: "h2" });
    await acked(sam, { t: "react", seq: first, emoji: "👍", on: true, cid: "h3" });
    await acked(sam, { t: "edit", seq: first, body: "the plan, final", cid: "h4" });
    const gone = await acked(lee, { t: "send", cid: "h5", body: "a typo to delete" });
    await acked(lee, { t: "delete", seq: gone, cid: "h6" });
    await acked(lee, { t: "send", cid: "h7", body: "looks good", replyTo: first });
    // More events than the join replays, so the ones above come from the history API.
    let last = 0;
    for (let n = 1; n <= MAX_REPLAY + 5; n++) last = await acked(sam, { t: "send", cid: `f${n}`, body: `filler ${n}` });
    await sam.next("persisted", (frame) => frame.room === room && frame.upTo >= last, { timeoutMs: 30_000 });
    sam.close();
    lee.close();

    const { page } = await person(1, uniqueName("reader"));
    await openRoom(page, room);
    await messageWith(page, `filler ${MAX_REPLAY + 5}`).waitFor();
    await page.locator(".log").hover();
    await waitFor(
      async () => {
        if ((await page.getByText("Beginning of the conversation").count()) === 1) return true;
        await page.mouse.wheel(0, -4000);
        return false;
      },
      "every message loaded by scrolling up",
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const plan = messageWith(page, "the plan, final");
    await plan.locator(".edited", { hasText: "(edited)" }).waitFor();
    expect(await plan.getByRole("button", { name: /^thumbs up:/ }).getAttribute("aria-label")).toBe(
      "thumbs up: 2 reactions",
    );
    await page.locator(".message.deleted", { hasText: "Message deleted" }).waitFor();
    expect(await page.locator(".log").textContent()).not.toContain("a typo to delete");
    expect(await messageWith(page, "looks good").locator(".reply-excerpt").textContent()).toBe("the plan, final");
    expect((await bodies(page)).slice(0, 2)).toEqual(["the plan, final", "looks good"]);
  });

  it("pages older history in on scroll-up, each message once and in order", async () => {
    const room = uniqueName("history");
    const seeder = await TestClient.connect(stack.gateways[0]?.wsUrl("user=seeder") ?? "");
    await seeder.join(room);
    const total = 75;
    for (let n = 1; n <= total; n++) {
      seeder.send({ t: "send", room, cid: `seed-${n}`, body: `seed ${n}` });
      await seeder.next("ack", (frame) => frame.cid === `seed-${n}`);
    }
    // The history API serves what the persister stored.
    await seeder.next("persisted", (frame) => frame.room === room && frame.upTo >= total, { timeoutMs: 30_000 });
    seeder.close();

    const { page } = await person(1, uniqueName("reader"));
    await openRoom(page, room);
    await page.locator(".message", { hasText: `seed ${total}` }).waitFor();
    expect((await bodies(page)).length).toBeLessThan(total);
    const log = page.locator(".log");
    await log.hover();
    await waitFor(
      async () => {
        if ((await page.locator(".message").count()) === total) return true;
        await page.mouse.wheel(0, -4000);
        return false;
      },
      "every message loaded by scrolling up",
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    await page.getByText("Beginning of the conversation").waitFor();
    expect(await bodies(page)).toEqual(Array.from({ length: total }, (_, i) => `seed ${i + 1}`));
    // Strictly increasing, not necessarily 1..75: if another suite restarts the shared Redis meanwhile, the room
    // continues in a new epoch above a margin (and the skipped seqs are recorded lost).
    const seqs = (await page.locator(".message").evaluateAll((items) => items.map((item) => item.dataset.seq))).map(
      Number,
    );
    expect(seqs.every((seq, i) => i === 0 || seq > (seqs[i - 1] ?? 0))).toBe(true);

    // Scrolled up, a new message does not yank the view down; a button leads to it.
    const poster = await TestClient.connect(stack.gateways[0]?.wsUrl("user=poster") ?? "");
    await poster.join(room);
    poster.send({ t: "send", room, cid: "late", body: "a late reply" });
    await page.getByRole("button", { name: /New messages/ }).click();
    await page.locator(".message", { hasText: "a late reply" }).waitFor();
    expect(await page.locator(".message", { hasText: "a late reply" }).isVisible()).toBe(true);
    await page.getByRole("button", { name: /New messages/ }).waitFor({ state: "detached" });
    poster.close();
  });

  it("reopens the room you were in after a reload, with its messages, and shows every message's time", async () => {
    const room = uniqueName("reload");
    const { page } = await person(0, uniqueName("rita"));
    await openRoom(page, room);
    await say(page, "first of a run");
    await say(page, "second of a run");
    await page
      .locator(".message", { hasText: "second of a run" })
      .locator(".delivery-label", { hasText: /^(Sent|Saved)$/ })
      .waitFor();
    expect(await page.locator(`[data-room="lobby"]`).count()).toBe(1);

    // A grouped message's time is in the page for screen readers; unless its minute changed it shows on hover.
    const second = page.locator(".message", { hasText: "second of a run" });
    const opacity = () =>
      second.locator(".meta").evaluate((meta) => meta.ownerDocument.defaultView?.getComputedStyle(meta).opacity);
    expect(await second.getAttribute("class")).toContain("grouped");
    expect(await second.locator("time").textContent()).toMatch(/\d/);
    if (!(await second.getAttribute("class"))?.includes("timed")) expect(await opacity()).toBe("0");
    await second.hover();
    await expect.poll(opacity).toBe("1");
    expect(await second.locator("time").isVisible()).toBe(true);

    // The reload opens the same room, never claiming it empty while its messages are on the way.
    await page.addInitScript(`
      sessionStorage.setItem("sawEmpty", "no");
      new MutationObserver(() => {
        if (document.body?.textContent?.includes("No messages yet")) sessionStorage.setItem("sawEmpty", "yes");
      }).observe(document, { subtree: true, childList: true, characterData: true });
    `);
    await page.reload();
    expect(new URL(page.url()).hash).toBe(`#room=${room}`);
    await page.getByRole("heading", { name: `#${room}` }).waitFor();
    await page.locator(".message", { hasText: "second of a run" }).waitFor();
    expect(await bodies(page)).toEqual(["first of a run", "second of a run"]);
    expect(await page.evaluate('sessionStorage.getItem("sawEmpty")')).toBe("no");
  });

  it("searches what each person may read, and opens a hit in its room at the message, paging history to it", async () => {
    const [ann, ben, cat] = [uniqueName("ann"), uniqueName("ben"), uniqueName("cat")];
    const room = uniqueName("found");
    // A word of this test alone: search spans every room. A hyphen would split it into words.
    const word = uniqueName("w").replace("-", "");
    const gateway = stack.gateways[0];
    if (!gateway) throw new Error("no gateway");
    // The room's hit, then more messages than a join replays and a history page (50) hold: opening the hit must
    // page history back to it.
    const seeder = await gateway.connect(ann);
    await seeder.join(room);
    const acked = async (cid: string, body: string) => {
      const from = seeder.frames.length;
      seeder.send({ t: "send", room, cid, body });
      return (await seeder.next("ack", (ack) => ack.cid === cid, { from })).seq;
    };
    await acked("s0", `the ${word} is here`);
    let last = 0;
    const filler = "lorem ipsum dolor sit amet ".repeat(6);
    for (let n = 1; n <= MAX_REPLAY + 60; n++) last = await acked(`s${n}`, `filler ${n}: ${filler}`);
    await seeder.next("persisted", (frame) => frame.room === room && frame.upTo >= last, { timeoutMs: 30_000 });
    seeder.close();

    const [a, b, c] = await Promise.all([person(0, ann), person(1, ben), person(1, cat)]);
    await a.page.getByLabel("Message a person").fill(ben);
    await a.page.getByLabel("Message a person").press("Enter");
    await a.page.getByRole("heading", { name: ben }).waitFor();
    await say(a.page, `our ${word} secret`);
    const secret = a.page.locator(".message.own", { hasText: `our ${word} secret` });
    await expect.poll(() => secret.getAttribute("data-delivery"), { timeout: 30_000 }).toBe("persisted");

    const search = async (page: Page) => {
      await page.getByLabel("Search messages").fill(word);
      await page.getByLabel("Search messages").press("Enter");
      await page
        .getByRole("status")
        .filter({ hasText: `found for “${word}”` })
        .waitFor();
    };
    const hits = (page: Page) => page.locator(".search-hit");

    // Cat finds the room's message, never the other two's direct one.
    await search(c.page);
    expect(await hits(c.page).count()).toBe(1);
    expect(await hits(c.page).first().getAttribute("data-room")).toBe(room);
    expect(await hits(c.page).first().locator("mark").textContent()).toBe(word);
    expect(await c.page.locator(".search-results").textContent()).not.toContain("secret");

    // Ben finds both, the newer first; the direct one opens his conversation with ann at the message.
    await search(b.page);
    expect(await hits(b.page).evaluateAll((found) => found.map((hit) => hit.getAttribute("data-room")))).toEqual([
      dmRoom(ann, ben),
      room,
    ]);
    await hits(b.page).first().click();
    await b.page.getByRole("heading", { name: ann }).waitFor();
    await b.page.locator(".message.found", { hasText: `our ${word} secret` }).waitFor();

    // Cat opens the room's hit: older than the join replayed, so it is paged in from history, then marked.
    await hits(c.page).first().click();
    await c.page.getByRole("heading", { name: `#${room}` }).waitFor();
    const found = c.page.locator(".message.found");
    await found.filter({ hasText: `the ${word} is here` }).waitFor({ timeout: 30_000 });
    expect(await found.count()).toBe(1);
    await expect.poll(() => found.evaluate((element) => element === element.ownerDocument.activeElement)).toBe(true);

    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it("renders a conversation in light and dark themes (the README's screenshots)", async () => {
    // Fixed names look right in the pictures; the stack's own Redis prefix and database keep them apart.
    const gateway = stack.gateways[0];
    if (!gateway) throw new Error("no gateway");
    const [sam, lee] = await Promise.all([gateway.connect("sam"), gateway.connect("lee")]);
    const post = async (client: TestClient, room: string, cid: string, body: string) => {
      client.send({ t: "send", room, cid, body });
      await client.next("ack", (frame) => frame.cid === cid);
    };
    await Promise.all([sam.join("design"), lee.join("design"), sam.join("lobby"), sam.join("dm:maya:sam")]);
    await post(sam, "design", "s1", "Morning! The new onboarding flow is up on staging.");
    await post(lee, "design", "l1", "Nice — the empty states look so much better.\nTried it on a small screen too.");

    const { page } = await person(0, "maya");
    await openRoom(page, "releases");
    await openRoom(page, "design");
    await say(page, "Agreed. I'll walk through it on my phone after lunch.");
    await page.locator(".message.own[data-seq]").waitFor();
    await post(sam, "design", "s2", "Heads-up: the deploy freeze starts Friday at 18:00.");
    await post(sam, "lobby", "s3", "Who's up for the retro on Thursday?");
    await post(sam, "lobby", "s4", "I'll bring the snacks.");
    await post(sam, "dm:maya:sam", "s5", "Got a minute for the rollout plan?");
    await page.getByLabel("Message a person").fill("sam");
    await page.getByLabel("Message a person").press("Enter");
    await page.locator('[data-room="design"]').click();
    await page.locator(".message.own[data-delivery=persisted]").waitFor({ timeout: 30_000 });
    await page.locator('[data-room="lobby"] .badge', { hasText: "2" }).waitFor();
    await page.locator(".message", { hasText: "deploy freeze" }).waitFor();
    lee.send({ t: "typing", room: "design" });
    await page.getByText("lee is typing…").waitFor();
    await page.mouse.move(0, 0);

    const dir =
      process.env.PARLEY_SCREENSHOT_DIR ?? fileURLToPath(new URL("../../.parley/screenshots", import.meta.url));
    const theme = () => page.locator("html").getAttribute("data-theme");
    if ((await theme()) !== "light") await page.getByRole("button", { name: "Use light theme" }).click();
    const background = () => page.evaluate("getComputedStyle(document.body).backgroundColor");
    const lightBackground = await background();
    await page.screenshot({ path: join(dir, "web-light.png") });
    await page.getByRole("button", { name: "Use dark theme" }).click();
    expect(await theme()).toBe("dark");
    expect(await background()).not.toBe(lightBackground);
    lee.send({ t: "typing", room: "design" });
    await page.getByText("lee is typing…").waitFor();
    await page.screenshot({ path: join(dir, "web-dark.png") });
    // The choice survives a reload.
    await page.reload();
    await page.locator(".connection[data-status=online]").waitFor();
    expect(await theme()).toBe("dark");

    // On a phone the room list folds behind a menu button; the conversation and the composer fill the screen.
    await page.setViewportSize({ width: 390, height: 760 });
    const menu = page.getByRole("button", { name: "Rooms" });
    await menu.waitFor();
    expect(await page.locator("#sidebar").isVisible()).toBe(false);
    await page.locator(".composer").getByRole("textbox").waitFor();
    await menu.click();
    await page.locator('[data-room="lobby"]').click();
    await page.getByRole("heading", { name: "#lobby" }).waitFor();
    await page.locator(".message", { hasText: "snacks" }).waitFor();
    expect(await page.locator("#sidebar").isVisible()).toBe(false);
    await page.screenshot({ path: join(dir, "web-phone.png") });
    sam.close();
    lee.close();
  });

  it("loses nothing visible when a gateway drains for a restart mid-conversation", async () => {
    const room = uniqueName("restart");
    const [a, b] = await Promise.all([person(0, uniqueName("ann")), person(1, uniqueName("ben"))]);
    await Promise.all([openRoom(a.page, room), openRoom(b.page, room)]);
    await say(a.page, "before 1");
    await say(b.page, "before 2");
    await a.page.locator(".message", { hasText: "before 2" }).waitFor();

    // Gateway 1 drains (1012). The balancer sends new connections to the gateway still up, as an ingress does once
    // the draining pod is unready; ben's client reconnects there and rejoins with `since`.
    const gateway = stack.gateways[1];
    const survivor = stack.gateways[0];
    if (!gateway || !survivor) throw new Error("the stack has two gateways");
    b.balancer.route(survivor.port);
    const stopped = gateway.service.stop();
    await say(a.page, "during 1");
    await say(a.page, "during 2");
    await say(b.page, "written while reconnecting");
    expect(await stopped).toBe(0);
    await say(a.page, "after");

    const expected = ["before 1", "before 2", "during 1", "during 2", "written while reconnecting", "after"];
    for (const page of [a.page, b.page]) {
      await page.locator(".message", { hasText: "after" }).waitFor();
      await page.locator(".message", { hasText: "written while reconnecting" }).waitFor();
      await expect.poll(async () => [...(await bodies(page))].sort()).toEqual([...expected].sort());
    }
    // Ben's message sent across the restart is acked once, not duplicated.
    await b.page
      .locator(".message.own", { hasText: "written while reconnecting" })
      .locator(".delivery-label", { hasText: /^(Sent|Saved)$/ })
      .waitFor();
    await b.page.locator(".connection[data-status=online]").waitFor();
    expect(pageErrors).toEqual([]);
  });
});

/** An HS256 JWT, as an identity provider would issue it. */
function jwt(claims: Record<string, unknown>, secret: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
  return `${unsigned}.${createHmac("sha256", secret).update(unsigned).digest("base64url")}`;
}

/** JWT sign-in against the embedded gateway (what `npm start` runs, here with `PARLEY_AUTH=jwt`). */
describe("web client with JWT sign-in", () => {
  const secret = "browser-test-secret";
  let gateway: GatewayProcess;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "parley-web-jwt-"));
    gateway = await GatewayProcess.start({
      PARLEY_WEB_DIR: WEB_DIST,
      PARLEY_DATA_DIR: dataDir,
      PARLEY_AUTH: "jwt",
      PARLEY_JWT_SECRET: secret,
    });
  });

  afterAll(async () => {
    await gateway?.service.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("signs in from a link's #token, keeps the token out of the address bar, and chats", async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${gateway.baseUrl}/#token=${jwt({ sub: "tara", exp }, secret)}`);
    await page.locator(".connection[data-status=online]").waitFor();
    // The token is gone from the address; what is left names the room on screen.
    expect(page.url()).toBe(`${gateway.baseUrl}/#room=lobby`);
    await page.locator(".composer").getByRole("textbox").fill("signed in with a token");
    await page.locator(".composer").getByRole("textbox").press("Enter");
    await page.locator(".message.own[data-delivery=persisted]", { hasText: "signed in with a token" }).waitFor();
    // A reload keeps the session.
    await page.reload();
    await page.locator(".message.own", { hasText: "signed in with a token" }).waitFor();
    await context.close();
  });

  it("says so when the server refuses the token, instead of retrying forever", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(gateway.baseUrl);
    await page.getByRole("radio", { name: "Token" }).check();
    await page.getByLabel("Access token (JWT)").fill(jwt({ sub: "mallory" }, "not-the-secret"));
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator(".connection[data-status=refused]").waitFor();
    await page.getByRole("alert").filter({ hasText: "did not accept your sign-in" }).waitFor();
    await context.close();
  });
});

/** Sends the server refuses show as failed with the reason, and Retry (same cid) gets each one stored exactly once. */
describe("web client retrying refused sends", () => {
  let gateway: GatewayProcess;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "parley-web-retry-"));
    // A tight rate limit makes the gateway refuse a quick burst of sends with `rate_limited`.
    gateway = await GatewayProcess.start({
      PARLEY_WEB_DIR: WEB_DIST,
      PARLEY_DATA_DIR: dataDir,
      PARLEY_RATE_PER_SECOND: "2",
      PARLEY_RATE_BURST: "4",
    });
  });

  afterAll(async () => {
    await gateway?.service.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("shows a refused send as failed, and a retry stores it once", async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(gateway.baseUrl);
    await page.getByLabel("Your name").fill("rita");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator(".connection[data-status=online]").waitFor();
    const bodies = Array.from({ length: 6 }, (_, i) => `burst ${i + 1}`);
    const textbox = page.locator(".composer").getByRole("textbox");
    for (const body of bodies) {
      await textbox.fill(body);
      await textbox.press("Enter");
    }
    const failed = page.locator(".message.own[data-delivery=failed]");
    await failed.first().waitFor();
    await failed.first().getByText("Sending too fast").waitFor();
    await waitFor(
      async () => {
        const retry = failed.first().getByRole("button", { name: "Retry" });
        if ((await failed.count()) === 0) return true;
        if (await retry.isVisible()) await retry.click();
        return false;
      },
      "every refused send retried until it is accepted",
      { timeoutMs: 30_000, intervalMs: 300 },
    );
    await expect
      .poll(() => page.locator(".message.own[data-delivery=persisted]").count(), { timeout: 30_000 })
      .toBe(bodies.length);
    const response = await gateway.fetch("/api/rooms/lobby/messages?user=rita");
    const page1 = (await response.json()) as { messages: { body: string }[] };
    expect(page1.messages.map((message) => message.body).sort()).toEqual([...bodies].sort());
  });
});
