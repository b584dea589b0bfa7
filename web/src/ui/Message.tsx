import { type FormEvent, type KeyboardEvent, useEffect, useId, useRef, useState } from "react";
import type { ChangeAction, ChangeFailure, ChatItem, Delivery, ReplyPreview } from "../client/room.js";
import { Attachments } from "./Attachments.js";
import type { MenuFocus } from "./MessageMenu.js";
import { reactionLabel } from "./reactions.js";

const DELIVERY_LABEL: Record<Delivery, string> = {
  sending: "Sending…",
  acked: "Sent",
  persisted: "Saved",
  failed: "Not sent",
};

const FAILED_CHANGE: Record<ChangeAction, string> = {
  edit: "Edit not saved",
  delete: "Not deleted",
  react: "Reaction not saved",
};

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });

/** What a message can ask of the conversation around it. */
export interface MessageControls {
  /** Opens (or, when open, closes) the message's menu under its actions button. */
  toggleMenu(seq: number, anchor: HTMLButtonElement, focus: MenuFocus): void;
  /** Scrolls to the message at `seq` and focuses it (a reply's quote leads there). */
  showMessage(seq: number): void;
  toggleReaction(seq: number, emoji: string): void;
  /** Saves an edit; returns why it cannot be sent, if so. */
  saveEdit(seq: number, body: string): string | undefined;
  endEdit(seq: number): void;
  confirmDelete(seq: number): void;
  endDelete(seq: number): void;
  retry(cid: string): void;
  dismiss(cid: string): void;
  /** A short-lived URL of a file in this room. */
  fileUrl(id: string): Promise<string>;
}

/**
 * One message. A grouped one (same sender, same day as the one before) drops the name; it shows its time where the
 * minute changes, and otherwise on hover or focus (a tap focuses it), beside the bubble. A sequenced message that is
 * not deleted has an actions button (shown on hover or focus) that opens its menu; a deleted one is a tombstone line.
 */
export function Message({
  item,
  me,
  grouped,
  timed,
  menuId,
  menuOpen,
  editing,
  confirmingDelete,
  controls,
  found = false,
}: {
  item: ChatItem;
  me: string;
  grouped: boolean;
  timed: boolean;
  menuId: string;
  menuOpen: boolean;
  editing: boolean;
  confirmingDelete: boolean;
  controls: MessageControls;
  /** The message a search led to: marked until another is chosen. */
  found?: boolean;
}) {
  const time = new Date(item.ts);
  const seq = item.seq;
  const actionable = seq !== undefined && !item.deleted && !editing;
  const author = item.own ? "your" : `${item.from}’s`;
  const classes = ["message"];
  if (item.own) classes.push("own");
  if (grouped) classes.push("grouped");
  if (timed) classes.push("timed");
  if (item.deleted) classes.push("deleted");
  if (editing) classes.push("editing");
  if (found) classes.push("found");
  return (
    <li
      className={classes.join(" ")}
      data-seq={item.seq}
      data-cid={item.cid}
      data-delivery={item.delivery}
      tabIndex={-1}
    >
      <div className="meta">
        {grouped ? null : <span className="from">{item.own ? "You" : item.from}</span>}
        <time dateTime={time.toISOString()} title={fullFormat.format(time)}>
          {timeFormat.format(time)}
        </time>
      </div>
      {actionable ? (
        <button
          type="button"
          className="message-actions"
          aria-label={`Actions for ${author} message`}
          aria-haspopup="menu"
          aria-expanded={menuOpen}
          aria-controls={menuOpen ? menuId : undefined}
          onClick={(event) => controls.toggleMenu(seq, event.currentTarget, "first")}
          onKeyDown={(event) => {
            if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
            event.preventDefault();
            if (!menuOpen) controls.toggleMenu(seq, event.currentTarget, event.key === "ArrowUp" ? "last" : "first");
          }}
        >
          <span aria-hidden="true">⋯</span>
        </button>
      ) : null}
      {item.replyTo ? <ReplyQuote reply={item.replyTo} me={me} onShow={controls.showMessage} /> : null}
      {item.deleted ? (
        <p className="tombstone">{item.saving === "delete" ? "Deleting…" : "Message deleted"}</p>
      ) : editing && seq !== undefined ? (
        <EditForm
          initial={item.body}
          onSave={(body) => controls.saveEdit(seq, body)}
          onCancel={() => controls.endEdit(seq)}
        />
      ) : item.body === "" && item.saving !== "edit" && item.editedAt === undefined ? null : (
        <p className="body-row">
          {/* Text only: React escapes it, so a body like <img onerror=…> is shown, never interpreted. */}
          <span className="body">{item.body}</span>
          {item.saving === "edit" ? (
            <span className="edited"> (saving…)</span>
          ) : item.editedAt !== undefined ? (
            <span className="edited" title={`Edited ${fullFormat.format(new Date(item.editedAt))}`}>
              {" "}
              (edited)
            </span>
          ) : null}
        </p>
      )}
      {item.attachments.length > 0 ? <Attachments attachments={item.attachments} fileUrl={controls.fileUrl} /> : null}
      {confirmingDelete && seq !== undefined && !item.deleted ? (
        <DeleteConfirm onConfirm={() => controls.confirmDelete(seq)} onCancel={() => controls.endDelete(seq)} />
      ) : null}
      {item.reactions.length > 0 && seq !== undefined ? (
        <ul className="reactions" aria-label="Reactions">
          {item.reactions.map((reaction) => (
            <li key={reaction.emoji}>
              <button
                type="button"
                className="reaction-chip"
                aria-pressed={reaction.mine}
                aria-label={reactionLabel(reaction)}
                title={reactionLabel(reaction)}
                onClick={() => controls.toggleReaction(seq, reaction.emoji)}
              >
                <span className="reaction-emoji">{reaction.emoji}</span>
                <span className="reaction-count">{reaction.count}</span>
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      {item.failedChange ? <ChangeFailed failure={item.failedChange} controls={controls} /> : null}
      {item.seen && item.delivery !== "failed" && !item.deleted ? (
        <p className="delivery delivery-seen">
          <span className="delivery-label">Seen</span>
        </p>
      ) : item.delivery && !item.deleted ? (
        <p className={`delivery delivery-${item.delivery}`}>
          <span className="delivery-label">{DELIVERY_LABEL[item.delivery]}</span>
          {item.error ? <span className="delivery-error"> — {item.error}</span> : null}
          {item.delivery === "failed" ? (
            <button type="button" className="text-button retry-button" onClick={() => controls.retry(item.cid)}>
              Retry
            </button>
          ) : null}
        </p>
      ) : null}
    </li>
  );
}

/** Why one of our changes of the message did not go through, with a retry where one may help. */
function ChangeFailed({ failure, controls }: { failure: ChangeFailure; controls: MessageControls }) {
  return (
    <p className="change-failed" role="alert">
      {FAILED_CHANGE[failure.action]}: {failure.reason}
      {failure.retriable ? (
        <button type="button" className="text-button" onClick={() => controls.retry(failure.cid)}>
          Retry
        </button>
      ) : null}
      <button type="button" className="text-button" onClick={() => controls.dismiss(failure.cid)}>
        Dismiss
      </button>
    </p>
  );
}

/** The message a reply answers: its author and first line, leading to it when it is loaded. */
function ReplyQuote({ reply, me, onShow }: { reply: ReplyPreview; me: string; onShow: (seq: number) => void }) {
  const from = reply.from === undefined ? undefined : reply.from === me ? "You" : reply.from;
  const content = (
    <>
      <span className="visually-hidden">In reply to </span>
      {reply.deleted ? (
        <span className="reply-excerpt reply-gone">deleted message</span>
      ) : from === undefined ? (
        <span className="reply-excerpt reply-gone">an earlier message</span>
      ) : (
        <>
          <span className="reply-from">{from}</span>
          <span className="visually-hidden">: </span>
          <span className="reply-excerpt">{reply.excerpt}</span>
        </>
      )}
    </>
  );
  if (reply.from === undefined) return <p className="reply-quote">{content}</p>;
  return (
    <button type="button" className="reply-quote" onClick={() => onShow(reply.seq)}>
      {content}
    </button>
  );
}

/** The body in a text box: Enter saves, Shift+Enter is a new line, Escape cancels. */
function EditForm({
  initial,
  onSave,
  onCancel,
}: {
  initial: string;
  onSave: (body: string) => string | undefined;
  onCancel: () => void;
}) {
  const [body, setBody] = useState(initial);
  const [problem, setProblem] = useState<string | undefined>();
  const input = useRef<HTMLTextAreaElement>(null);
  const form = useRef<HTMLFormElement>(null);
  const id = useId();

  // The whole form in view, its buttons too, with the caret after the text.
  useEffect(() => {
    const element = input.current;
    if (!element) return;
    element.focus({ preventScroll: true });
    element.setSelectionRange(element.value.length, element.value.length);
    form.current?.scrollIntoView({ block: "nearest" });
  }, []);

  const save = () => {
    if (body === initial) {
      onCancel();
      return;
    }
    setProblem(onSave(body));
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.nativeEvent.isComposing) return;
    if (event.key === "Escape") {
      event.preventDefault();
      onCancel();
    } else if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      save();
    }
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    save();
  };

  return (
    <form ref={form} className="edit-form" onSubmit={submit} noValidate>
      <label htmlFor={`${id}-body`} className="visually-hidden">
        Edit message
      </label>
      <textarea
        id={`${id}-body`}
        ref={input}
        value={body}
        rows={1}
        onChange={(event) => {
          setBody(event.target.value);
          if (problem) setProblem(undefined);
        }}
        onKeyDown={onKeyDown}
        aria-invalid={problem !== undefined}
        aria-describedby={`${id}-status`}
      />
      <div className="edit-actions">
        <span id={`${id}-status`} className="edit-status">
          {problem ? (
            <span className="field-error" role="alert">
              {problem}
            </span>
          ) : (
            <span className="muted keys-hint">Enter to save · Escape to cancel</span>
          )}
        </span>
        <button type="button" className="secondary-button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="primary-button">
          Save
        </button>
      </div>
    </form>
  );
}

/** Asks once more before a deletion; the focus starts on Delete, Escape cancels. */
function DeleteConfirm({ onConfirm, onCancel }: { onConfirm: () => void; onCancel: () => void }) {
  const confirm = useRef<HTMLButtonElement>(null);
  const id = useId();
  useEffect(() => confirm.current?.focus(), []);
  return (
    <fieldset
      className="delete-confirm"
      aria-labelledby={`${id}-question`}
      onKeyDown={(event) => {
        if (event.key !== "Escape") return;
        event.preventDefault();
        onCancel();
      }}
    >
      <span id={`${id}-question`}>Delete this message for everyone?</span>
      <button ref={confirm} type="button" className="danger-button" onClick={onConfirm}>
        Delete
      </button>
      <button type="button" className="secondary-button" onClick={onCancel}>
        Cancel
      </button>
    </fieldset>
  );
}
