import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { credentialsFromUrl, loadSession, roomFromUrl, saveSession, urlWithRoom, userOfToken } from "./session.js";

const jwt = (claims: unknown) =>
  `e30.${btoa(JSON.stringify(claims)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_")}.signature`;

describe("session", () => {
  it("reads the user id of a token without trusting anything else", () => {
    expect(userOfToken(jwt({ sub: "alice" }))).toBe("alice");
    expect(userOfToken(jwt({ sub: "ümlaut" }))).toBeUndefined();
    expect(userOfToken(jwt({ sub: 42 }))).toBeUndefined();
    expect(userOfToken(jwt({ name: "bob" }), "name")).toBe("bob");
    expect(userOfToken("not a token")).toBeUndefined();
    expect(userOfToken("a.%%%.c")).toBeUndefined();
  });

  it("never throws on arbitrary tokens", () => {
    fc.assert(fc.property(fc.string(), (token) => void userOfToken(token)));
  });

  it("takes a token from the address and gives back the address without it", () => {
    const token = jwt({ sub: "alice" });
    expect(credentialsFromUrl(`https://chat.test/#token=${token}`)).toEqual({
      credentials: { kind: "jwt", token, user: "alice" },
      cleanUrl: "https://chat.test/",
    });
    expect(credentialsFromUrl(`https://chat.test/?token=${token}&x=1`)).toMatchObject({
      cleanUrl: "https://chat.test/?x=1",
    });
    expect(credentialsFromUrl("https://chat.test/?token=junk")).toMatchObject({ problem: expect.any(String) });
    expect(credentialsFromUrl("https://chat.test/")).toEqual({});
  });

  it("keeps the open room in the address, beside other hash fields, for any room name", () => {
    expect(roomFromUrl("https://chat.test/")).toBeUndefined();
    expect(urlWithRoom("https://chat.test/?x=1", "design")).toBe("https://chat.test/?x=1#room=design");
    expect(roomFromUrl(urlWithRoom("https://chat.test/#a=b", "dm:ann:ben"))).toBe("dm:ann:ben");
    fc.assert(
      fc.property(fc.string(), fc.string(), (before, room) => {
        expect(roomFromUrl(urlWithRoom(`https://chat.test/#${encodeURIComponent(before)}`, room))).toBe(room);
      }),
    );
  });

  it("saves and loads a session, and ignores a corrupt one", () => {
    const map = new Map<string, string>();
    const storage = {
      getItem: (key: string) => map.get(key) ?? null,
      setItem: (key: string, value: string) => void map.set(key, value),
    };
    saveSession(storage, { kind: "dev", user: "alice" });
    expect(loadSession(storage)).toEqual({ kind: "dev", user: "alice" });
    saveSession(storage, undefined);
    expect(loadSession(storage)).toBeUndefined();
    map.set("parley:session", '{"kind":"dev","user":"<script>"}');
    expect(loadSession(storage)).toBeUndefined();
  });
});
