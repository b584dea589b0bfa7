import { meSchema, searchPageSchema } from "@parley/protocol";
import type { SearchQuery } from "@parley/store";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DevAuthenticator } from "./auth/dev-auth.js";
import { decodeSearchCursor, encodeSearchCursor, meRoute, searchRoute } from "./http-api.js";
import { testRequest } from "./in-process.testing.js";

function get(path: string, query: Record<string, string>) {
  return testRequest("GET", path, { query });
}

describe("searchRoute", () => {
  const hit = (seq: number) => ({
    room: "lobby",
    seq,
    id: `id-${seq}`,
    cid: `c-${seq}`,
    from: "amy",
    body: "hi",
    ts: seq,
  });
  function route(limit = 2) {
    const asked: SearchQuery[] = [];
    const options = {
      auth: new DevAuthenticator(),
      maxLimit: 50,
      store: {
        search: async (query: SearchQuery) => {
          asked.push(query);
          return Array.from({ length: Math.min(limit, query.limit) }, (_, index) => hit(10 - index));
        },
      },
    };
    return {
      asked,
      answer: (query: Record<string, string>, path = "/api/search") => searchRoute(get(path, query), options),
    };
  }

  it("is not its path's business otherwise", async () => {
    expect(await route().answer({ q: "hi", user: "amy" }, "/api/searches")).toBeUndefined();
  });

  it.each([
    [{ q: "hi" }, 401],
    [{ user: "amy" }, 400],
    [{ user: "amy", q: "   " }, 400],
    [{ user: "amy", q: "x".repeat(201) }, 400],
    [{ user: "amy", q: "🎉".repeat(101) }, 400],
    [{ user: "amy", q: "nul\u0000" }, 400],
    [{ user: "amy", q: "hi", limit: "0" }, 400],
    [{ user: "amy", q: "hi", limit: "51" }, 400],
    [{ user: "amy", q: "hi", limit: "two" }, 400],
    [{ user: "amy", q: "hi", before: "not a cursor" }, 400],
    [{ user: "amy", q: "hi", before: Buffer.from("1.2").toString("base64url") }, 400],
    [{ user: "amy", q: "hi", room: "two words" }, 400],
    [{ user: "amy", q: "hi", room: "dm:bob:carol" }, 403],
    [{ user: "amy", q: "hi", room: "dm:amy:bob" }, 200],
    [{ user: "amy", q: "x".repeat(200) }, 200],
  ])("answers %j with %i", async (query, status) => {
    const response = await route().answer(query);
    expect(response?.status).toBe(status);
  });

  it("asks the store for the caller's hits and gives the cursor of the next page only on a full page", async () => {
    const full = route(2);
    const response = await full.answer({ user: "amy", q: '"hi there" -bye', room: "lobby", limit: "2" });
    expect(full.asked).toEqual([{ user: "amy", q: '"hi there" -bye', room: "lobby", limit: 2 }]);
    const page = searchPageSchema.parse(JSON.parse(String(response?.body)));
    expect(page.messages.map((message) => message.seq)).toEqual([10, 9]);
    expect(decodeSearchCursor(page.nextBefore ?? "")).toEqual({ ts: 9, room: "lobby", seq: 9 });

    await full.answer({ user: "amy", q: "hi", before: page.nextBefore ?? "" });
    expect(full.asked[1]).toEqual({ user: "amy", q: "hi", limit: 20, before: { ts: 9, room: "lobby", seq: 9 } });

    const short = route(1);
    const last = searchPageSchema.parse(JSON.parse(String((await short.answer({ user: "amy", q: "hi" }))?.body)));
    expect(last.nextBefore).toBeUndefined();
  });

  it("round-trips every position through its cursor, and decodes any other string to nothing or a valid one", () => {
    const room = fc.oneof(
      fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/),
      fc.constant("dm:amy:bob"),
      fc.constant("a.1.2"),
    );
    fc.assert(
      fc.property(
        fc.record({
          ts: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          room,
          seq: fc.integer({ min: 1, max: 1e15 - 1 }),
        }),
        (position) => {
          expect(decodeSearchCursor(encodeSearchCursor(position))).toEqual(position);
        },
      ),
    );
    fc.assert(
      fc.property(fc.string(), (text) => {
        const position = decodeSearchCursor(text);
        if (position !== undefined) expect(decodeSearchCursor(encodeSearchCursor(position))).toEqual(position);
      }),
    );
  });
});

describe("meRoute", () => {
  const auth = new DevAuthenticator();

  it("says who the caller is and whether they are an admin", async () => {
    const me = async (query: Record<string, string>) => {
      const response = await meRoute(get("/api/me", query), auth);
      expect(response?.status).toBe(200);
      return meSchema.parse(JSON.parse(String(response?.body)));
    };
    await expect(me({ user: "amy" })).resolves.toEqual({ user: "amy", admin: false });
    await expect(me({ user: "amy", admin: "1" })).resolves.toEqual({ user: "amy", admin: true });
  });

  it("answers 401 without credentials, 405 to another method, and leaves other paths alone", async () => {
    expect((await meRoute(get("/api/me", {}), auth))?.status).toBe(401);
    const post = await meRoute(testRequest("POST", "/api/me", { query: { user: "amy" } }), auth);
    expect(post?.status).toBe(405);
    expect(post?.headers?.allow).toBe("GET");
    expect(await meRoute(get("/api/me/more", { user: "amy" }), auth)).toBeUndefined();
  });
});
