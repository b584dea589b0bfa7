import { type Attachment, MAX_BODY_LENGTH } from "@parley/protocol";
import {
  type ClipboardEvent,
  type DragEvent,
  type FormEvent,
  type KeyboardEvent,
  useEffect,
  useId,
  useRef,
  useState,
} from "react";
import type { ChatClient } from "../client/chat-client.js";
import { formatSize } from "./Attachments.js";

/** A file on its way to being attached: uploading (with progress), uploaded, or refused. */
interface Upload {
  readonly key: number;
  readonly name: string;
  readonly size: number;
  readonly progress: number;
  readonly attachment?: Attachment;
  readonly error?: string;
}

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
  const [uploads, setUploads] = useState<readonly Upload[]>([]);
  const [dragging, setDragging] = useState(false);
  const input = useRef<HTMLTextAreaElement>(null);
  const picker = useRef<HTMLInputElement>(null);
  const nextKey = useRef(0);
  const id = useId();

  /** Uploads each file at once, so it is ready by the time the message is written. */
  const attach = (files: readonly File[]) => {
    for (const file of files) {
      const key = nextKey.current++;
      const change = (patch: Partial<Upload>) =>
        setUploads((all) => all.map((upload) => (upload.key === key ? { ...upload, ...patch } : upload)));
      setUploads((all) => [...all, { key, name: file.name, size: file.size, progress: 0 }]);
      const local = { name: file.name, size: file.size, type: file.type, body: file };
      void client
        .attach(room, local, (progress) => change({ progress }))
        .then((result) =>
          change(result.ok ? { progress: 1, attachment: result.attachment } : { error: result.reason }),
        );
    }
    setProblem(undefined);
  };

  // Choosing Reply in a message's menu is to write the answer.
  const replySeq = replyTo?.seq;
  useEffect(() => {
    if (replySeq !== undefined) input.current?.focus();
  }, [replySeq]);

  const send = () => {
    if (uploads.some((upload) => upload.attachment === undefined && upload.error === undefined)) {
      setProblem("Wait until the files are uploaded.");
      return;
    }
    if (uploads.some((upload) => upload.error !== undefined)) {
      setProblem("Remove the files that were not uploaded first.");
      return;
    }
    const attachments = uploads.flatMap((upload) => (upload.attachment ? [upload.attachment] : []));
    const result = client.send(room, body, replyTo?.seq, attachments);
    if (!result.ok) {
      setProblem(result.reason);
      return;
    }
    setProblem(undefined);
    setUploads([]);
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

  const onPaste = (event: ClipboardEvent<HTMLTextAreaElement>) => {
    const files = [...event.clipboardData.files];
    if (files.length === 0) return;
    event.preventDefault();
    attach(files);
  };

  const onDragOver = (event: DragEvent<HTMLFormElement>) => {
    if (!event.dataTransfer.types.includes("Files")) return;
    event.preventDefault();
    setDragging(true);
  };

  const onDrop = (event: DragEvent<HTMLFormElement>) => {
    setDragging(false);
    const files = [...event.dataTransfer.files];
    if (files.length === 0) return;
    event.preventDefault();
    attach(files);
  };

  const near = body.length > MAX_BODY_LENGTH * 0.9;
  return (
    <form
      className={dragging ? "composer dragging" : "composer"}
      onSubmit={submit}
      onDragOver={onDragOver}
      onDragLeave={() => setDragging(false)}
      onDrop={onDrop}
      noValidate
    >
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
      {uploads.length > 0 ? (
        <ul className="uploads" aria-label="Files to send">
          {uploads.map((upload) => (
            <li key={upload.key} className={upload.error ? "upload upload-failed" : "upload"}>
              <span className="file-name">{upload.name}</span>
              <span className="file-size muted"> {formatSize(upload.size)}</span>
              {upload.error ? (
                <span className="field-error" role="alert">
                  {" "}
                  {upload.error}
                </span>
              ) : upload.attachment ? (
                <span className="muted"> uploaded</span>
              ) : (
                <progress max={1} value={upload.progress} aria-label={`Uploading ${upload.name}`} />
              )}
              <button
                type="button"
                className="icon-button"
                aria-label={`Remove ${upload.name}`}
                onClick={() => setUploads((all) => all.filter((other) => other.key !== upload.key))}
              >
                <span aria-hidden="true">×</span>
              </button>
            </li>
          ))}
        </ul>
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
        onPaste={onPaste}
        aria-invalid={problem !== undefined}
        aria-describedby={replyTo ? `${id}-reply ${id}-status` : `${id}-status`}
        // biome-ignore lint/a11y/noAutofocus: opening a room is to write in it
        autoFocus
      />
      <input
        ref={picker}
        type="file"
        multiple
        hidden
        aria-label="Files to attach"
        onChange={(event) => {
          attach([...(event.target.files ?? [])]);
          event.target.value = "";
        }}
      />
      <button
        type="button"
        className="icon-button attach-button"
        aria-label="Attach files"
        title="Attach files (or drop or paste them here)"
        onClick={() => picker.current?.click()}
      >
        {/* A drawn paper clip: an emoji's glyph is missing where no emoji font is installed. */}
        <svg
          aria-hidden="true"
          width="20"
          height="20"
          viewBox="0 0 24 24"
          fill="none"
          stroke="currentColor"
          strokeWidth="2"
        >
          <path d="M21 11.5 12.5 20a5 5 0 0 1-7-7l9-9a3.3 3.3 0 0 1 4.7 4.7l-9 9a1.7 1.7 0 0 1-2.4-2.4l8.3-8.3" />
        </svg>
      </button>
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
