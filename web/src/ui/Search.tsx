import type { SearchHit } from "@parley/protocol";
import { type FormEvent, useId, useRef, useState } from "react";
import type { ChatClient } from "../client/chat-client.js";
import { matchContext } from "../client/search.js";
import { roomLabel } from "./App.js";

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "short" });

/** What the search box shows: nothing yet, a search under way, its hits so far, or why it failed. */
type SearchState =
  | { readonly status: "idle" }
  | { readonly status: "searching"; readonly q: string }
  | {
      readonly status: "done";
      readonly q: string;
      readonly hits: readonly SearchHit[];
      readonly nextBefore?: string;
      readonly loadingMore: boolean;
      readonly problem?: string;
    }
  | { readonly status: "failed"; readonly q: string; readonly problem: string };

/**
 * The message search: a search box (Enter searches), the hits newest first with the words found marked, and "More
 * results" while the server has more. Choosing a hit opens its room at the message.
 */
export function Search({ client, me, onOpen }: { client: ChatClient; me: string; onOpen: (hit: SearchHit) => void }) {
  const id = useId();
  const [value, setValue] = useState("");
  const [state, setState] = useState<SearchState>({ status: "idle" });
  /** Answers to a search the user has replaced since are dropped. */
  const latest = useRef(0);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const q = value.trim();
    const run = ++latest.current;
    setState({ status: "searching", q });
    const result = await client.search(q);
    if (run !== latest.current) return;
    setState(
      result.ok
        ? { status: "done", q, hits: result.page.messages, loadingMore: false, ...nextOf(result.page) }
        : { status: "failed", q, problem: result.reason },
    );
  };

  const more = async () => {
    if (state.status !== "done" || state.nextBefore === undefined || state.loadingMore) return;
    const run = latest.current;
    setState({ ...state, loadingMore: true });
    const result = await client.search(state.q, { before: state.nextBefore });
    if (run !== latest.current) return;
    setState(
      result.ok
        ? {
            status: "done",
            q: state.q,
            hits: [...state.hits, ...result.page.messages],
            loadingMore: false,
            ...nextOf(result.page),
          }
        : { ...state, loadingMore: false, problem: result.reason },
    );
  };

  const clear = () => {
    latest.current++;
    setValue("");
    setState({ status: "idle" });
  };

  return (
    <search className="search" aria-labelledby={`${id}-heading`}>
      <h2 id={`${id}-heading`} className="visually-hidden">
        Search
      </h2>
      <form className="open-form" onSubmit={submit} noValidate>
        <label htmlFor={`${id}-input`}>Search messages</label>
        <div className="inline-field">
          <input
            id={`${id}-input`}
            type="search"
            value={value}
            placeholder="words"
            onChange={(event) => setValue(event.target.value)}
            onKeyDown={(event) => {
              if (event.key === "Escape") clear();
            }}
            spellCheck={false}
            maxLength={200}
          />
          <button type="submit" className="secondary-button">
            Search
          </button>
        </div>
      </form>
      <SearchResults state={state} me={me} onOpen={onOpen} onMore={more} onClear={clear} id={id} />
    </search>
  );
}

function nextOf(page: { readonly nextBefore?: string | undefined }): { nextBefore?: string } {
  return page.nextBefore === undefined ? {} : { nextBefore: page.nextBefore };
}

function SearchResults({
  state,
  me,
  onOpen,
  onMore,
  onClear,
  id,
}: {
  state: SearchState;
  me: string;
  onOpen: (hit: SearchHit) => void;
  onMore: () => void;
  onClear: () => void;
  id: string;
}) {
  if (state.status === "idle") return null;
  return (
    <div className="search-results">
      <div className="search-summary">
        <p className="muted small" role="status" aria-live="polite">
          {state.status === "searching"
            ? "Searching…"
            : state.status === "failed"
              ? ""
              : state.hits.length === 0
                ? `No messages found for “${state.q}”.`
                : `${state.hits.length}${state.nextBefore === undefined ? "" : "+"} found for “${state.q}”`}
        </p>
        <button type="button" className="link-button small" onClick={onClear}>
          Clear search
        </button>
      </div>
      {state.status === "failed" ? (
        <p className="field-error" role="alert">
          {state.problem}
        </p>
      ) : null}
      {state.status === "done" && state.hits.length > 0 ? (
        <ul className="search-hits" aria-label={`Search results for ${state.q}`} id={`${id}-results`}>
          {state.hits.map((hit) => (
            <li key={hit.id}>
              <button
                type="button"
                className="search-hit"
                data-room={hit.room}
                data-seq={hit.seq}
                onClick={() => onOpen(hit)}
              >
                <span className="search-hit-meta">
                  <span className="search-hit-room">{roomLabel(hit.room, me)}</span>
                  <span className="search-hit-from">{hit.from === me ? "you" : hit.from}</span>
                  <time dateTime={new Date(hit.ts).toISOString()}>{timeFormat.format(hit.ts)}</time>
                </span>
                <span className="search-hit-text">
                  {matchContext(hit.body, state.q).map((segment, index) =>
                    segment.match ? (
                      // biome-ignore lint/suspicious/noArrayIndexKey: segments have no identity but their place
                      <mark key={index}>{segment.text}</mark>
                    ) : (
                      // biome-ignore lint/suspicious/noArrayIndexKey: segments have no identity but their place
                      <span key={index}>{segment.text}</span>
                    ),
                  )}
                </span>
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      {state.status === "done" && state.problem ? (
        <p className="field-error" role="alert">
          {state.problem}
        </p>
      ) : null}
      {state.status === "done" && state.nextBefore !== undefined ? (
        <button type="button" className="text-button" onClick={onMore} disabled={state.loadingMore}>
          {state.loadingMore ? "Loading more…" : "More results"}
        </button>
      ) : null}
    </div>
  );
}
