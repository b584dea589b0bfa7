import { type KeyboardEvent, useEffect, useLayoutEffect, useRef } from "react";
import type { ChatItem } from "../client/room.js";
import { QUICK_REACTIONS } from "./reactions.js";

/** Which item takes the focus when the menu opens: Enter, Space and ArrowDown give the first, ArrowUp the last. */
export type MenuFocus = "first" | "last";

/**
 * The actions of one message (quick reactions, reply, on our own messages edit, and delete on our own or, for an
 * admin, on anyone's), as an ARIA menu:
 * arrow keys, Home and End move between its items, Escape or Tab closes it and the focus goes back to the button
 * that opened it. It is drawn over the log (not inside it, so the log's live region does not announce it), next to
 * that button, above or below wherever there is room, and follows it when the log scrolls.
 */
export function MessageMenu({
  id,
  item,
  mayDelete,
  anchor,
  focus,
  onReact,
  onReply,
  onEdit,
  onDelete,
  onClose,
}: {
  id: string;
  item: ChatItem;
  /** Our own message, or we are an admin. */
  mayDelete: boolean;
  anchor: HTMLElement;
  focus: MenuFocus;
  onReact: (emoji: string) => void;
  onReply: () => void;
  onEdit: () => void;
  onDelete: () => void;
  /** `refocus`: give the focus back to the button (Escape, Tab, an action done); not when the user clicked away. */
  onClose: (refocus: boolean) => void;
}) {
  const menu = useRef<HTMLDivElement>(null);

  // Place it beside the button, inside the frame it is drawn in; again whenever the log scrolls under it.
  useLayoutEffect(() => {
    const element = menu.current;
    const frame = element?.offsetParent;
    if (!element || !frame) return;
    const log = anchor.closest(".log");
    const place = () => {
      if (!anchor.isConnected) {
        onClose(false);
        return;
      }
      const bounds = frame.getBoundingClientRect();
      const button = anchor.getBoundingClientRect();
      const height = element.offsetHeight;
      const width = element.offsetWidth;
      const below = button.bottom - bounds.top + 4;
      const above = button.top - bounds.top - height - 4;
      const top = below + height <= bounds.height || above < 0 ? below : above;
      const left = item.own ? button.right - bounds.left - width : button.left - bounds.left;
      element.style.top = `${Math.max(0, Math.min(top, bounds.height - height))}px`;
      element.style.left = `${Math.max(0, Math.min(left, bounds.width - width))}px`;
    };
    place();
    log?.addEventListener("scroll", place);
    window.addEventListener("resize", place);
    return () => {
      log?.removeEventListener("scroll", place);
      window.removeEventListener("resize", place);
    };
  }, [anchor, item.own, onClose]);

  useEffect(() => {
    const items = menuItems(menu.current);
    (focus === "first" ? items[0] : items.at(-1))?.focus();
    // Only when it opens: a re-render (a new message) must not move the focus back.
  }, [focus]);

  // A click anywhere else closes it, leaving the focus where the click put it.
  useEffect(() => {
    const away = (event: PointerEvent) => {
      const target = event.target as Node | null;
      if (target && !menu.current?.contains(target) && !anchor.contains(target)) onClose(false);
    };
    document.addEventListener("pointerdown", away);
    return () => document.removeEventListener("pointerdown", away);
  }, [anchor, onClose]);

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const items = menuItems(menu.current);
    const at = items.indexOf(document.activeElement as HTMLElement);
    const move = (index: number) => {
      event.preventDefault();
      items[(index + items.length) % items.length]?.focus();
    };
    switch (event.key) {
      case "ArrowDown":
      case "ArrowRight":
        return move(at + 1);
      case "ArrowUp":
      case "ArrowLeft":
        return move(at - 1);
      case "Home":
        return move(0);
      case "End":
        return move(items.length - 1);
      case "Escape":
      case "Tab":
        event.preventDefault();
        event.stopPropagation();
        onClose(true);
        return;
    }
  };

  return (
    <div
      id={id}
      ref={menu}
      role="menu"
      aria-label="Message actions"
      className="message-menu"
      onKeyDown={onKeyDown}
      tabIndex={-1}
    >
      <fieldset aria-label="Quick reactions" className="menu-reactions">
        {QUICK_REACTIONS.map(({ emoji, name }) => {
          const mine = item.reactions.some((reaction) => reaction.emoji === emoji && reaction.mine);
          return (
            <button
              key={emoji}
              type="button"
              role="menuitemcheckbox"
              aria-checked={mine}
              aria-label={`React with ${name}`}
              title={name}
              className="menu-reaction"
              tabIndex={-1}
              onClick={() => onReact(emoji)}
            >
              {emoji}
            </button>
          );
        })}
      </fieldset>
      <button type="button" role="menuitem" className="menu-item" tabIndex={-1} onClick={onReply}>
        Reply
      </button>
      {item.own ? (
        <button type="button" role="menuitem" className="menu-item" tabIndex={-1} onClick={onEdit}>
          Edit
        </button>
      ) : null}
      {mayDelete ? (
        <button type="button" role="menuitem" className="menu-item menu-danger" tabIndex={-1} onClick={onDelete}>
          Delete
        </button>
      ) : null}
    </div>
  );
}

function menuItems(menu: HTMLElement | null): HTMLElement[] {
  return menu ? [...menu.querySelectorAll<HTMLElement>("[role^=menuitem]")] : [];
}
