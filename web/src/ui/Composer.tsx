import { MAX_BODY_LENGTH } from "@parley/protocol";
import { type FormEvent, type KeyboardEvent, useEffect, useId, useRef, useState } from "react";
import type { ChatClient } from "../client/chat-client.js";

/** The message the next send answers, as the composer names it. */
export interface ReplyTarget {
  readonly seq: number;
  /** Its author's name, or "yourself". */
  readonly to: string;
  /** Its first line, or "deleted message". */
  readonly excerpt: string;
}

export function Composer({
  client,
  room,
  label,
  replyTo,
  onCancelReply,
}: {
  client: ChatClient;
  room: string;
  label: string;
  replyTo?: ReplyTarget | undefined;
  onCancelReply: () => void;
}) {
  const [body, setBody] = useState("");
  const [problem, setProblem] = useState<string | undefined>();
  const input = useRef<HTMLTextAreaElement>(null);
  const id = useId();

  // Choosing Reply in a message's menu is to write the answer.
  const replySeq = replyTo?.seq;
  useEffect(() => {
    if (replySeq !== undefined) input.current?.focus();
  }, [replySeq]);

  const send = () => {
    const result = client.send(room, body, replyTo?.seq);
    if (!result.ok) {
      setProblem(result.reason);
      return;
    }
    setProblem(undefined);
    setBody("");
    if (replyTo) onCancelReply();
    input.current?.focus();
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.nativeEvent.isComposing) return;
    if (event.key === "Escape" && replyTo) {
      event.preventDefault();
      onCancelReply();
      return;
    }
    // Enter sends, Shift+Enter is a newline; never while an input method is composing a character.
    if (event.key !== "Enter" || event.shiftKey) return;
    event.preventDefault();
    send();
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    send();
  };

  const near = body.length > MAX_BODY_LENGTH * 0.9;
  return (
    <form className="composer" onSubmit={submit} noValidate>
      {replyTo ? (
        <div className="replying">
          <p id={`${id}-reply`} className="replying-text">
            Replying to <strong>{replyTo.to}</strong>
            <span className="replying-excerpt">: {replyTo.excerpt}</span>
          </p>
          <button
            type="button"
            className="icon-button cancel-reply"
            aria-label="Cancel reply"
            title="Cancel reply (Escape)"
            onClick={() => {
              onCancelReply();
              input.current?.focus();
            }}
          >
            <span aria-hidden="true">×</span>
          </button>
        </div>
      ) : null}
      <label htmlFor={`${id}-body`} className="visually-hidden">
        {label}
      </label>
      <textarea
        id={`${id}-body`}
        ref={input}
        value={body}
        rows={1}
        placeholder={replyTo ? `Reply to ${replyTo.to}` : label}
        onChange={(event) => {
          setBody(event.target.value);
          if (problem) setProblem(undefined);
          if (event.target.value !== "") client.typing(room);
        }}
        onKeyDown={onKeyDown}
        aria-invalid={problem !== undefined}
        aria-describedby={replyTo ? `${id}-reply ${id}-status` : `${id}-status`}
        // biome-ignore lint/a11y/noAutofocus: opening a room is to write in it
        autoFocus
      />
      <button type="submit" className="primary-button send-button">
        Send
      </button>
      <p id={`${id}-status`} className="composer-status">
        {problem ? (
          <span className="field-error" role="alert">
            {problem}
          </span>
        ) : near ? (
          <span className={body.length > MAX_BODY_LENGTH ? "field-error" : "muted"}>
            {body.length} / {MAX_BODY_LENGTH}
          </span>
        ) : (
          <span className="muted keys-hint">
            Enter to send · Shift+Enter for a new line{replyTo ? " · Escape to cancel the reply" : ""}
          </span>
        )}
      </p>
    </form>
  );
}
