import { useVirtualizer } from '@tanstack/react-virtual';
import { memo, useEffect, useId, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { messageTextProblem, type ChatMessage } from '../../amplify/core/protocol';
import { Avatar } from './Avatar';
import { formatFull, formatTime } from './format';
import { PencilIcon, TrashIcon } from './icons';
import { Linkified } from './Linkified';
import { buildRows, type Row } from './rows';
import type { PendingMessage } from './store';

export interface MessageListProps {
  roomId: string;
  roomLabel: string;
  messages: readonly ChatMessage[];
  pending: readonly PendingMessage[];
  meId: string;
  loaded: boolean;
  hasOlder: boolean;
  loadingOlder: boolean;
  onLoadOlder: () => void;
  onRetry: (clientMsgId: string) => void;
  onDiscard: (clientMsgId: string) => void;
  onEdit: (clientMsgId: string, text: string) => void;
  /** Saves a new text for one of your sent messages; rejects with the server's error (shown inline, text kept). */
  onEditMessage: (seq: number, text: string) => Promise<void>;
  /** Deletes one of your sent messages; rejects with the server's error. */
  onDeleteMessage: (seq: number) => Promise<void>;
  /** The read marker the room was opened with: "New messages" goes above the first message from others after it. */
  dividerAt?: number;
  /** A direct-message room: the other person's name, for the start of the conversation. */
  dmWith?: string;
}

/**
 * The one message being edited or asked about, if any. It lives in the list,
 * not the row, so an edit in progress survives its row scrolling out of the DOM.
 */
export type MessageAction =
  | { mode: 'edit'; seq: number; text: string; saving: boolean; error?: string }
  | { mode: 'delete'; seq: number; busy: boolean; error?: string };

type ListRow = Row | { kind: 'top'; key: 'top' };

/** Distance from the bottom, in px, that still counts as "at the bottom". */
const STICK_PX = 48;
/** Within this of the top, the previous page starts loading, before you hit the end of what is there. */
const TOP_PX = 400;

const estimate = (row: ListRow | undefined): number => {
  if (!row) return 40;
  if (row.kind === 'top') return 72;
  if (row.kind === 'day') return 44;
  if (row.kind === 'divider') return 32;
  return row.first ? 62 : 28;
};

/**
 * The room's messages, virtualized: only rows near the viewport exist in the
 * DOM, so ten thousand messages cost a few dozen elements. Anchored to the
 * bottom like any chat: it follows new messages while you are at the end and
 * holds still (with a "new messages" pill) while you read further up.
 */
export function MessageList(props: MessageListProps) {
  const { messages, pending, meId, loaded, hasOlder, loadingOlder, onLoadOlder, roomLabel, dividerAt, dmWith } = props;
  const rows = useMemo<ListRow[]>(
    () => [{ kind: 'top', key: 'top' }, ...buildRows(messages, pending, meId, Date.now(), dividerAt)],
    [messages, pending, meId, dividerAt],
  );
  const scrollRef = useRef<HTMLDivElement>(null);
  // The React Compiler would skip this component for useVirtualizer's unmemoizable API; Parley does not use the compiler.
  // eslint-disable-next-line react-hooks/incompatible-library
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: (i) => estimate(rows[i]),
    getItemKey: (i) => rows[i]?.key ?? i,
    overscan: 10,
    anchorTo: 'end',
    followOnAppend: true,
    scrollEndThreshold: STICK_PX,
    // React 19 batches well; flushSync from inside commit only earns a warning.
    useFlushSync: false,
  });
  const items = virtualizer.getVirtualItems();
  const atEnd = virtualizer.isAtEnd(STICK_PX);

  // Open at the newest message, or at "New messages" when there is more to read than fits below it.
  const opened = useRef(false);
  const dividerIndex = rows.findIndex((r) => r.kind === 'divider');
  useLayoutEffect(() => {
    if (opened.current || !loaded) return;
    opened.current = true;
    // Aligned to the top, a divider with little below it lands at the end anyway: the scroll stops there.
    if (dividerIndex > 0) virtualizer.scrollToIndex(dividerIndex, { align: 'start' });
    else virtualizer.scrollToEnd();
  }, [loaded, virtualizer, dividerIndex]);

  // Something you just wrote always comes into view, even if you had scrolled up.
  const pendingCount = pending.length;
  const lastPending = useRef(pendingCount);
  useEffect(() => {
    if (pendingCount > lastPending.current) virtualizer.scrollToEnd();
    lastPending.current = pendingCount;
  }, [pendingCount, virtualizer]);

  // Messages that arrived below the fold since you were last at the bottom.
  const newest = messages.at(-1)?.seq ?? 0;
  const [seenSeq, setSeenSeq] = useState(newest);
  useEffect(() => {
    if (atEnd && seenSeq !== newest) setSeenSeq(newest);
  }, [atEnd, newest, seenSeq]);
  let unseen = 0;
  for (let i = messages.length - 1; i >= 0 && messages[i]!.seq > seenSeq; i--) if (messages[i]!.senderId !== meId) unseen++;

  // Scrolling up near the top asks for the page before it; so does a first page too short to scroll.
  const offset = virtualizer.scrollOffset ?? 0;
  const viewport = scrollRef.current?.clientHeight ?? 0;
  const scrollable = virtualizer.getTotalSize() > viewport;
  const nearTop = scrollable ? offset < TOP_PX && virtualizer.scrollDirection === 'backward' : viewport > 0;
  const wantOlder = opened.current && loaded && hasOlder && !loadingOlder && nearTop;
  useEffect(() => {
    if (wantOlder) onLoadOlder();
  }, [wantOlder, onLoadOlder]);

  const { onRetry, onDiscard, onEdit, onEditMessage, onDeleteMessage } = props;
  // Stable while the room's state is: with rows compared by content, a new message renders one row, not all of them.
  const top = useMemo<TopState>(
    () => ({ roomLabel, loaded, hasOlder, loadingOlder, onLoadOlder, dmWith }),
    [roomLabel, loaded, hasOlder, loadingOlder, onLoadOlder, dmWith],
  );
  const actions = useMemo<RowActions>(() => ({ onRetry, onDiscard, onEdit }), [onRetry, onDiscard, onEdit]);
  const [active, setActive] = useState<MessageAction>();
  const messageActions = useMemo(() => makeMessageActions(setActive, onEditMessage, onDeleteMessage), [onEditMessage, onDeleteMessage]);

  const messageCount = messages.length + pending.length;
  // Screen readers hear "message 3,412 of 10,000" although only a few rows exist.
  const positions = useMemo(() => {
    const map = new Map<string, number>();
    let n = 0;
    for (const r of rows) if (r.kind === 'message' || r.kind === 'pending') map.set(r.key, ++n);
    return map;
  }, [rows]);

  return (
    <div className="message-pane">
      <div ref={scrollRef} className="message-scroll" tabIndex={0} role="region" aria-label={`Messages in ${roomLabel}`}>
        <div role="list" aria-label={`${roomLabel} messages`} className="message-canvas" style={{ height: virtualizer.getTotalSize() }}>
          {items.map((item) => {
            const row = rows[item.index]!;
            return (
              <div
                key={item.key}
                data-index={item.index}
                ref={virtualizer.measureElement}
                role="listitem"
                aria-setsize={row.kind === 'message' || row.kind === 'pending' ? messageCount : undefined}
                aria-posinset={positions.get(row.key)}
                className="message-row"
                style={{ transform: `translateY(${item.start}px)` }}
              >
                <RowView
                  row={row}
                  top={top}
                  actions={actions}
                  messageActions={messageActions}
                  // Only the row it is about gets it: every other row keeps `undefined` and skips the render.
                  active={row.kind === 'message' && active?.seq === row.message.seq ? active : undefined}
                />
              </div>
            );
          })}
        </div>
      </div>
      {!atEnd && unseen > 0 && (
        <button type="button" className="new-pill" onClick={() => virtualizer.scrollToEnd({ behavior: 'smooth' })}>
          {unseen === 1 ? '1 new message' : `${unseen} new messages`} <span aria-hidden="true">↓</span>
        </button>
      )}
      {!atEnd && unseen === 0 && loaded && (
        <button type="button" className="new-pill subtle" aria-label="Jump to the newest message" onClick={() => virtualizer.scrollToEnd()}>
          <span aria-hidden="true">↓</span>
        </button>
      )}
    </div>
  );
}

type TopState = Pick<MessageListProps, 'roomLabel' | 'loaded' | 'hasOlder' | 'loadingOlder' | 'onLoadOlder' | 'dmWith'>;
type RowActions = Pick<MessageListProps, 'onRetry' | 'onDiscard' | 'onEdit'>;

/** What a sent message's Edit and Delete controls do; one stable object for the whole list. */
interface MessageActions {
  startEdit: (m: ChatMessage) => void;
  changeEdit: (seq: number, text: string) => void;
  saveEdit: (m: ChatMessage, text: string) => Promise<void>;
  askDelete: (seq: number) => void;
  confirmDelete: (seq: number) => Promise<void>;
  cancel: (seq: number) => void;
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
/** Protocol checks read "message must not …"; people read a sentence. */
const sentence = (s: string): string => {
  const t = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(t) ? t : `${t}.`;
};

function makeMessageActions(
  setActive: (fn: (a: MessageAction | undefined) => MessageAction | undefined) => void,
  onEditMessage: (seq: number, text: string) => Promise<void>,
  onDeleteMessage: (seq: number) => Promise<void>,
): MessageActions {
  /** Changes the action in progress only while it is still about `seq` in `mode`: a late reply never touches another. */
  const update = (seq: number, mode: MessageAction['mode'], fn: (a: MessageAction) => MessageAction | undefined) =>
    setActive((a) => (a?.seq === seq && a.mode === mode ? fn(a) : a));
  return {
    startEdit: (m) => setActive(() => ({ mode: 'edit', seq: m.seq, text: m.text, saving: false })),
    changeEdit: (seq, text) => update(seq, 'edit', (a) => ({ ...a, text, error: undefined })),
    saveEdit: async (m, text) => {
      if (text === m.text) return update(m.seq, 'edit', () => undefined);
      // The rules a send is held to, checked before asking: an empty edit is a delete, and says so.
      const problem = messageTextProblem(text);
      if (problem) {
        const error = problem.code === 'empty' ? 'A message cannot be empty. Delete it instead.' : sentence(problem.message);
        return update(m.seq, 'edit', (a) => ({ ...a, error }));
      }
      update(m.seq, 'edit', (a) => ({ ...a, saving: true, error: undefined }));
      try {
        await onEditMessage(m.seq, text);
        update(m.seq, 'edit', () => undefined);
      } catch (err) {
        update(m.seq, 'edit', (a) => ({ ...a, saving: false, error: `Not saved: ${errorText(err)}` }));
      }
    },
    askDelete: (seq) => setActive(() => ({ mode: 'delete', seq, busy: false })),
    confirmDelete: async (seq) => {
      update(seq, 'delete', (a) => ({ ...a, busy: true, error: undefined }));
      try {
        await onDeleteMessage(seq);
        update(seq, 'delete', () => undefined);
      } catch (err) {
        update(seq, 'delete', (a) => ({ ...a, busy: false, error: `Not deleted: ${errorText(err)}` }));
      }
    },
    cancel: (seq) => setActive((a) => (a?.seq === seq ? undefined : a)),
  };
}

interface RowViewProps {
  row: ListRow;
  top: TopState;
  actions: RowActions;
  messageActions: MessageActions;
  /** The edit or delete in progress on this row's message. */
  active?: MessageAction;
}

/** buildRows makes fresh row objects each time; what a row draws is what decides whether it redraws. */
function sameRow(a: ListRow, b: ListRow): boolean {
  switch (a.kind) {
    case 'top':
      return b.kind === 'top';
    case 'day':
      return b.kind === 'day' && a.label === b.label;
    case 'divider':
      return b.kind === 'divider';
    case 'message':
      return b.kind === 'message' && a.message === b.message && a.own === b.own && a.first === b.first;
    case 'pending':
      return b.kind === 'pending' && a.pending === b.pending && a.first === b.first;
  }
}

const sameRowProps = (a: RowViewProps, b: RowViewProps): boolean =>
  sameRow(a.row, b.row) &&
  a.actions === b.actions &&
  a.messageActions === b.messageActions &&
  a.active === b.active &&
  (a.row.kind !== 'top' || a.top === b.top);

const RowView = memo(function RowView({ row, top, actions, messageActions, active }: RowViewProps) {
  const { roomLabel, loaded, hasOlder, loadingOlder, onLoadOlder, dmWith } = top;
  const { onRetry, onDiscard, onEdit } = actions;
  switch (row.kind) {
    case 'top':
      if (!loaded) return <p className="list-note">Loading messages…</p>;
      if (hasOlder)
        return (
          <p className="list-note">
            <button type="button" className="link-button" onClick={onLoadOlder} disabled={loadingOlder}>
              {loadingOlder ? 'Loading older messages…' : 'Load older messages'}
            </button>
          </p>
        );
      return dmWith !== undefined ? (
        <div className="room-start">
          <h2>{dmWith}</h2>
          <p>This is the very beginning of your direct messages with {dmWith}. Only the two of you can read them.</p>
        </div>
      ) : (
        <div className="room-start">
          <h2>Welcome to {roomLabel}</h2>
          <p>This is the very beginning of the conversation.</p>
        </div>
      );
    case 'day':
      return (
        <div className="day-separator" role="separator" aria-label={row.label}>
          <span>{row.label}</span>
        </div>
      );
    case 'divider':
      return (
        <div className="new-divider" role="separator" aria-label="New messages">
          <span>New messages</span>
        </div>
      );
    case 'message':
      return <MessageView message={row.message} own={row.own} first={row.first} active={active} actions={messageActions} />;
    case 'pending':
      return <PendingView pending={row.pending} first={row.first} onRetry={onRetry} onDiscard={onDiscard} onEdit={onEdit} />;
  }
}, sameRowProps);

type Mode = MessageAction['mode'] | undefined;

function MessageView({ message: m, own, first, active, actions }: { message: ChatMessage; own: boolean; first: boolean; active?: MessageAction; actions: MessageActions }) {
  const time = formatTime(m.ts);
  const iso = new Date(m.ts).toISOString();
  const deleted = m.deleted === true;
  // Only your own messages, as sent (pending ones have their own controls), and never a tombstone.
  const changeable = own && !deleted;
  const editing = changeable && active?.mode === 'edit' ? active : undefined;
  const confirming = changeable && active?.mode === 'delete' ? active : undefined;
  const mode: Mode = editing ? 'edit' : confirming ? 'delete' : undefined;

  const articleRef = useRef<HTMLElement>(null);
  const editRef = useRef<HTMLButtonElement>(null);
  const deleteRef = useRef<HTMLButtonElement>(null);
  const closed = useRef<Mode>(undefined);
  // When the editor or the confirmation goes, focus goes back where it came from, not to the page's start.
  useEffect(() => {
    if (mode) {
      closed.current = mode;
      return;
    }
    const was = closed.current;
    if (!was) return;
    // A delete whose tombstone has not arrived yet keeps watching: the Delete button it focuses goes with it.
    closed.current = was === 'delete' && !deleted ? was : undefined;
    const article = articleRef.current;
    const focused = document.activeElement;
    // Focus moved on elsewhere (a click in the composer, say): leave it there.
    if (!article || (focused && focused !== document.body && !article.contains(focused))) return;
    const back = was === 'edit' ? editRef.current : deleteRef.current;
    if (back) back.focus();
    else article.closest<HTMLElement>('.message-scroll')?.focus();
  }, [mode, deleted]);

  const editedAt = deleted ? undefined : m.editedAt;
  // auto: Arabic and Hebrew read right to left, each message by its own first strong character.
  const text = (
    <div className="msg-text" dir="auto">
      <Linkified text={m.text} />
    </div>
  );
  return (
    <article
      ref={articleRef}
      className={`msg${own ? ' own' : ''}${first ? ' first' : ''}${deleted ? ' deleted' : ''}${mode ? ' active' : ''}`}
      aria-label={`${own ? 'You' : m.senderName} at ${time}`}
    >
      <div className="msg-gutter">
        {first ? (
          <Avatar id={m.senderId} name={m.senderName} />
        ) : (
          <time className="gutter-time" dateTime={iso} title={formatFull(m.ts)}>
            {time}
          </time>
        )}
      </div>
      <div className="msg-body">
        {first && (
          <div className="msg-meta">
            <span className="msg-name">{m.senderName}</span>
            {own && <span className="you-tag">you</span>}
            <time dateTime={iso} title={formatFull(m.ts)}>
              {time}
            </time>
          </div>
        )}
        {deleted ? (
          <div className="msg-text msg-deleted">This message was deleted.</div>
        ) : editing ? (
          <MessageEditor message={m} state={editing} actions={actions} />
        ) : editedAt !== undefined ? (
          <div className="msg-line">
            {text}
            <span className="msg-edited" title={`Edited ${formatFull(editedAt)}`}>
              (edited)
            </span>
          </div>
        ) : (
          text
        )}
        {confirming && <DeleteConfirm seq={m.seq} state={confirming} actions={actions} />}
      </div>
      {changeable && !mode && (
        <div className="msg-actions">
          <button ref={editRef} type="button" className="icon-button small" aria-label="Edit message" title="Edit" onClick={() => actions.startEdit(m)}>
            <PencilIcon />
          </button>
          <button ref={deleteRef} type="button" className="icon-button small danger" aria-label="Delete message" title="Delete" onClick={() => actions.askDelete(m.seq)}>
            <TrashIcon />
          </button>
        </div>
      )}
    </article>
  );
}

/** Edits in place: Enter saves, Shift+Enter is a newline, Escape cancels; a refusal shows here and the text stays. */
function MessageEditor({ message: m, state, actions }: { message: ChatMessage; state: Extract<MessageAction, { mode: 'edit' }>; actions: MessageActions }) {
  const id = useId();
  const ref = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.focus();
    el.setSelectionRange(el.value.length, el.value.length);
  }, []);
  // Grows with the text, as the composer does.
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${el.scrollHeight}px`;
  }, [state.text]);
  // While saving, the text is read-only rather than disabled, so focus stays in it.
  const save = () => {
    if (!state.saving) void actions.saveEdit(m, state.text);
  };
  const cancel = () => {
    if (!state.saving) actions.cancel(m.seq);
  };
  return (
    <div className="msg-editor">
      <label htmlFor={`${id}-text`} className="sr-only">
        Edit message
      </label>
      <textarea
        id={`${id}-text`}
        ref={ref}
        rows={1}
        dir="auto"
        value={state.text}
        readOnly={state.saving}
        aria-busy={state.saving || undefined}
        aria-invalid={state.error ? true : undefined}
        aria-describedby={state.error ? `${id}-error ${id}-hint` : `${id}-hint`}
        onChange={(e) => actions.changeEdit(m.seq, e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            // The edit, not the screen's overlays, is what Escape closes here.
            e.preventDefault();
            e.stopPropagation();
            cancel();
          } else if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            save();
          }
        }}
      />
      {state.error && (
        <p id={`${id}-error`} className="msg-inline-error" role="alert">
          {state.error}
        </p>
      )}
      <div className="msg-editor-foot">
        <span id={`${id}-hint`} className="msg-editor-hint">
          <kbd>Enter</kbd> to save · <kbd>Shift</kbd>+<kbd>Enter</kbd> for a new line · <kbd>Esc</kbd> to cancel
        </span>
        <button type="button" className="button ghost small" disabled={state.saving} onClick={cancel}>
          Cancel
        </button>
        <button type="button" className="button primary small" disabled={state.saving} onClick={save}>
          {state.saving ? 'Saving…' : 'Save'}
        </button>
      </div>
    </div>
  );
}

/** "Delete this message?" in place of a modal: one more click, right where the first one was. */
function DeleteConfirm({ seq, state, actions }: { seq: number; state: Extract<MessageAction, { mode: 'delete' }>; actions: MessageActions }) {
  const id = useId();
  const cancelRef = useRef<HTMLButtonElement>(null);
  // The safe choice has focus: Enter twice does not delete by accident.
  useEffect(() => cancelRef.current?.focus(), []);
  const cancel = () => {
    if (!state.busy) actions.cancel(seq);
  };
  return (
    <div
      className="msg-confirm"
      role="group"
      aria-labelledby={`${id}-q`}
      onKeyDown={(e) => {
        if (e.key !== 'Escape') return;
        e.preventDefault();
        e.stopPropagation();
        cancel();
      }}
    >
      <span id={`${id}-q`} className="msg-confirm-q">
        Delete this message?
      </span>
      <button type="button" className="button danger small" disabled={state.busy} onClick={() => void actions.confirmDelete(seq)}>
        {state.busy ? 'Deleting…' : 'Delete'}
      </button>
      <button ref={cancelRef} type="button" className="button ghost small" disabled={state.busy} onClick={cancel}>
        Cancel
      </button>
      {state.error && (
        <p className="msg-inline-error" role="alert">
          {state.error}
        </p>
      )}
    </div>
  );
}

function PendingView({
  pending: p,
  first,
  onRetry,
  onDiscard,
  onEdit,
}: {
  pending: PendingMessage;
  first: boolean;
  onRetry: (id: string) => void;
  onDiscard: (id: string) => void;
  onEdit: (id: string, text: string) => void;
}) {
  const failed = p.status === 'failed';
  const waiting = p.status === 'waiting';
  const label = failed ? 'Your message, not sent' : waiting ? 'Your message, waiting to be sent' : 'Your message, sending';
  return (
    <article className={`msg own pending${failed ? ' failed' : ''}${waiting ? ' waiting' : ''}${first ? ' first' : ''}`} aria-label={label}>
      <div className="msg-gutter">{first && <span className="avatar-placeholder" aria-hidden="true" />}</div>
      <div className="msg-body">
        {first && (
          <div className="msg-meta">
            <span className="msg-name">You</span>
          </div>
        )}
        <div className="msg-text" dir="auto">
          {p.text}
        </div>
        {failed ? (
          <div className="msg-status error" role="alert">
            <span>Not sent{p.error ? `: ${p.error.message}` : ''}</span>
            <button type="button" className="link-button" onClick={() => onRetry(p.clientMsgId)}>
              Retry
            </button>
            <button type="button" className="link-button" onClick={() => onEdit(p.clientMsgId, p.text)}>
              Edit
            </button>
            <button type="button" className="link-button" onClick={() => onDiscard(p.clientMsgId)}>
              Discard
            </button>
          </div>
        ) : waiting ? (
          // Not an alert: nothing failed, and it goes by itself.
          <div className="msg-status waiting">Waiting: this room&apos;s server region can&apos;t be reached right now. It will be sent when it is back.</div>
        ) : (
          <div className="msg-status">Sending…</div>
        )}
      </div>
    </article>
  );
}
