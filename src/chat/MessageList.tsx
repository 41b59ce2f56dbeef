import { useVirtualizer } from '@tanstack/react-virtual';
import { memo, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { ChatMessage } from '../../amplify/core/protocol';
import { Avatar } from './Avatar';
import { formatFull, formatTime } from './format';
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
}

type ListRow = Row | { kind: 'top'; key: 'top' };

/** Distance from the bottom, in px, that still counts as "at the bottom". */
const STICK_PX = 48;
/** Within this of the top, the previous page starts loading, before you hit the end of what is there. */
const TOP_PX = 400;

const estimate = (row: ListRow | undefined): number => {
  if (!row) return 40;
  if (row.kind === 'top') return 72;
  if (row.kind === 'day') return 44;
  return row.first ? 62 : 28;
};

/**
 * The room's messages, virtualized: only rows near the viewport exist in the
 * DOM, so ten thousand messages cost a few dozen elements. Anchored to the
 * bottom like any chat: it follows new messages while you are at the end and
 * holds still (with a "new messages" pill) while you read further up.
 */
export function MessageList(props: MessageListProps) {
  const { messages, pending, meId, loaded, hasOlder, loadingOlder, onLoadOlder, roomLabel } = props;
  const rows = useMemo<ListRow[]>(() => [{ kind: 'top', key: 'top' }, ...buildRows(messages, pending, meId)], [messages, pending, meId]);
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

  // Open at the newest message.
  const opened = useRef(false);
  useLayoutEffect(() => {
    if (opened.current || !loaded) return;
    opened.current = true;
    virtualizer.scrollToEnd();
  }, [loaded, virtualizer]);

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

  const { onRetry, onDiscard, onEdit } = props;
  // Stable while the room's state is: with rows compared by content, a new message renders one row, not all of them.
  const top = useMemo<TopState>(() => ({ roomLabel, loaded, hasOlder, loadingOlder, onLoadOlder }), [roomLabel, loaded, hasOlder, loadingOlder, onLoadOlder]);
  const actions = useMemo<RowActions>(() => ({ onRetry, onDiscard, onEdit }), [onRetry, onDiscard, onEdit]);

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
                <RowView row={row} top={top} actions={actions} />
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

type TopState = Pick<MessageListProps, 'roomLabel' | 'loaded' | 'hasOlder' | 'loadingOlder' | 'onLoadOlder'>;
type RowActions = Pick<MessageListProps, 'onRetry' | 'onDiscard' | 'onEdit'>;
interface RowViewProps {
  row: ListRow;
  top: TopState;
  actions: RowActions;
}

/** buildRows makes fresh row objects each time; what a row draws is what decides whether it redraws. */
function sameRow(a: ListRow, b: ListRow): boolean {
  switch (a.kind) {
    case 'top':
      return b.kind === 'top';
    case 'day':
      return b.kind === 'day' && a.label === b.label;
    case 'message':
      return b.kind === 'message' && a.message === b.message && a.own === b.own && a.first === b.first;
    case 'pending':
      return b.kind === 'pending' && a.pending === b.pending && a.first === b.first;
  }
}

const sameRowProps = (a: RowViewProps, b: RowViewProps): boolean =>
  sameRow(a.row, b.row) && a.actions === b.actions && (a.row.kind !== 'top' || a.top === b.top);

const RowView = memo(function RowView({ row, top, actions }: RowViewProps) {
  const { roomLabel, loaded, hasOlder, loadingOlder, onLoadOlder } = top;
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
      return (
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
    case 'message':
      return <MessageView message={row.message} own={row.own} first={row.first} />;
    case 'pending':
      return <PendingView pending={row.pending} first={row.first} onRetry={onRetry} onDiscard={onDiscard} onEdit={onEdit} />;
  }
}, sameRowProps);

function MessageView({ message: m, own, first }: { message: ChatMessage; own: boolean; first: boolean }) {
  const time = formatTime(m.ts);
  const iso = new Date(m.ts).toISOString();
  return (
    <article className={`msg${own ? ' own' : ''}${first ? ' first' : ''}`} aria-label={`${own ? 'You' : m.senderName} at ${time}`}>
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
        {/* auto: Arabic and Hebrew read right to left, each message by its own first strong character. */}
        <div className="msg-text" dir="auto">
          <Linkified text={m.text} />
        </div>
      </div>
    </article>
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
  return (
    <article className={`msg own pending${failed ? ' failed' : ''}${first ? ' first' : ''}`} aria-label={failed ? 'Your message, not sent' : 'Your message, sending'}>
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
        ) : (
          <div className="msg-status">Sending…</div>
        )}
      </div>
    </article>
  );
}
