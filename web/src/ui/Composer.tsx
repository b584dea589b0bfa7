import { MAX_BODY_LENGTH } from "@parley/protocol";
import { type FormEvent, type KeyboardEvent, useId, useRef, useState } from "react";
import type { ChatClient } from "../client/chat-client.js";

export function Composer({ client, room, label }: { client: ChatClient; room: string; label: string }) {
  const [body, setBody] = useState("");
  const [problem, setProblem] = useState<string | undefined>();
  const input = useRef<HTMLTextAreaElement>(null);
  const id = useId();

  const send = () => {
    const result = client.send(room, body);
    if (!result.ok) {
      setProblem(result.reason);
      return;
    }
    setProblem(undefined);
    setBody("");
    input.current?.focus();
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    // Enter sends, Shift+Enter is a newline; never while an input method is composing a character.
    if (event.key !== "Enter" || event.shiftKey || event.nativeEvent.isComposing) return;
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
      <label htmlFor={`${id}-body`} className="visually-hidden">
        {label}
      </label>
      <textarea
        id={`${id}-body`}
        ref={input}
        value={body}
        rows={1}
        placeholder={label}
        onChange={(event) => {
          setBody(event.target.value);
          if (problem) setProblem(undefined);
          if (event.target.value !== "") client.typing(room);
        }}
        onKeyDown={onKeyDown}
        aria-invalid={problem !== undefined}
        aria-describedby={`${id}-status`}
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
          <span className="muted keys-hint">Enter to send · Shift+Enter for a new line</span>
        )}
      </p>
    </form>
  );
}
