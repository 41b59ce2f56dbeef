/**
 * Parley's wire protocol: one source of truth for the Lambda handlers, the
 * local gateway and the React client. Frames in carry `action`, frames out
 * carry `type`. Everything inbound is validated here, at the edge.
 */
import * as v from 'valibot';
import { NAME_RULE, isValidName } from './names';
import { codePointLength, textFault, textFaultMessage } from './text';

/** The text rule, for clients to check before sending: see core/text.ts. */
export { codePointLength, isBlank, messageProblem, roomNameProblem } from './text';

export const LIMITS = {
  /** Characters (code points) in one chat message. */
  maxTextChars: 4000,
  /** API Gateway's WebSocket frame quota; a larger single frame closes the socket with 1009. */
  maxFrameBytes: 32 * 1024,
  /** API Gateway's WebSocket message quota (a message may span several frames). */
  maxMessageBytes: 128 * 1024,
  /** Largest frame an action may be; anything bigger is refused before parsing. */
  maxActionBytes: 32 * 1024,
  historyPageMax: 100,
  /**
   * Bytes one reply may take: API Gateway's 128 KB message quota less 4 KB for
   * the envelope (type, room, reqId, cursors). Lists in a reply (history,
   * rooms) stop before they would pass it; one item always fits (a message
   * is at most 4,000 code points, about 24 KB even as JSON escapes).
   */
  replyBudgetBytes: 128 * 1024 - 4 * 1024,
  /** Rooms in one `rooms` reply; the rest come with `cursor`. */
  roomsPageMax: 100,
  /** Longest `cursor` a client may send back (they are about 40 characters). */
  maxCursorChars: 128,
  /**
   * Rooms with more people online than this stop broadcasting joins and leaves,
   * and `joined` lists only this many members: in a big room a join would
   * otherwise cost a post to everyone, and the list alone could pass 128 KB.
   */
  presenceMax: 200,
  historyPageDefault: 50,
  /** Invitees in one createroom: with the creator, two writes each must fit one 100-item transaction. */
  maxInvites: 40,
  /** Token bucket per user, shared by all of that user's sockets: sustained rate and burst. */
  ratePerSecond: 10,
  rateBurst: 20,
  /** Open sockets per user (per region); the next $connect is refused with HTTP 429. */
  maxConnectionsPerUser: 10,
  /** Private rooms (DMs included) one user may belong to; an invitation past it is refused. */
  maxPrivateRooms: 200,
  /** Public rooms one user may belong to (the lobby aside); a join past it is refused with `limit_reached`. */
  maxPublicRooms: 200,
  /**
   * Unread counts stop at this many: past it the app shows "99+", and the
   * server never counts further than it (one bounded Query per room).
   */
  unreadMax: 100,
  /** Rooms a user may create: a burst, then one per this many seconds. */
  roomCreateBurst: 5,
  roomCreateEverySeconds: 12,
  /** Invitations a user may send: a burst (one full createroom), then one per this many seconds. */
  inviteBurst: 40,
  inviteEverySeconds: 6,
  /** A user's typing reaches a room at most once per this window, however many frames or sockets. */
  typingEveryMs: 3000,
  /** API Gateway closes idle sockets after 10 minutes and every socket after 2 hours. */
  idleTimeoutMs: 10 * 60 * 1000,
  maxConnectionMs: 2 * 60 * 60 * 1000,
} as const;

export const DEFAULT_ROOM = 'lobby';
/** The lobby's name, known before any reply, so a fresh browser never shows its id. */
export const DEFAULT_ROOM_NAME = 'Lobby';

/** Stable error codes: clients switch on these, never on the human message. */
export const ERROR_CODES = [
  'bad_json',
  'unsupported_frame',
  'bad_request',
  'unknown_action',
  'too_large',
  'text_too_long',
  'rate_limited',
  'room_not_found',
  'not_joined',
  'room_exists',
  'unknown_user',
  /** A per-user cap was reached (private rooms, public rooms, invitations). */
  'limit_reached',
  /** editmessage/deletemessage: no message at that seq, or it was deleted. */
  'message_not_found',
  /** editmessage/deletemessage on someone else's message. */
  'forbidden',
  /** The token the socket opened with has expired; the server closes the socket next. */
  'token_expired',
  /** The server no longer knows this socket's rooms; it closes the socket so the client reconnects and rejoins. */
  'session_lost',
  /** $connect only (HTTP 429): the user already has the most sockets allowed open. */
  'too_many_connections',
  'unavailable',
  /** The room's home region (the one region that orders it) cannot be reached; retry later. Reading still works. */
  'home_unavailable',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

// ---------------------------------------------------------------- inbound

export const RoomIdSchema = v.pipe(
  v.string('room must be a string'),
  v.regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'room must be 1-32 characters of a-z, 0-9, - or _'),
);
const ReqId = v.optional(v.pipe(v.string('reqId must be a string'), v.minLength(1), v.maxLength(64)));
/** A client's idempotency key for one message; also what an error frame may echo back. */
export const CLIENT_MSG_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const ClientMsgId = v.pipe(
  v.string('clientMsgId must be a string'),
  v.regex(CLIENT_MSG_ID_PATTERN, 'clientMsgId must be 1-64 characters of A-Z, a-z, 0-9, - or _'),
);
const Seq = v.pipe(v.number('must be a number'), v.integer('must be an integer'), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER));
export const UserNameSchema = v.pipe(v.string(), v.check((s: string) => isValidName(s), NAME_RULE));

/** Check kind used to tell "too long" apart from other text faults when mapping to error codes. */
export const TEXT_TOO_LONG = `message must be at most ${LIMITS.maxTextChars} characters`;
/** Text people write (see core/text.ts): not blank, well-formed, no control or bidi override characters. */
const humanText = (field: string, multiline: boolean) =>
  v.rawCheck<string>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const fault = textFault(dataset.value, { multiline });
    if (fault) addIssue({ message: textFaultMessage(field, fault, multiline) });
  });

/**
 * Why the server would refuse this message text, or undefined when it would
 * take it: the schema below runs exactly this, so a client can check first.
 * `empty` is a blank message, which the server reports as `bad_request`.
 */
export interface MessageTextProblem {
  code: 'empty' | 'text_too_long' | 'bad_request';
  message: string;
}
export function messageTextProblem(s: string): MessageTextProblem | undefined {
  const fault = textFault(s, { multiline: true });
  if (fault) return { code: fault === 'empty' ? 'empty' : 'bad_request', message: textFaultMessage('message', fault, true) };
  if (codePointLength(s) > LIMITS.maxTextChars) return { code: 'text_too_long', message: TEXT_TOO_LONG };
  return undefined;
}
const MessageText = v.pipe(
  v.string('message must be a string'),
  v.rawCheck<string>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const problem = messageTextProblem(dataset.value);
    if (problem) addIssue({ message: problem.message });
  }),
);
/** A room's display name: one line of visible text. */
const RoomName = v.pipe(v.string('name must be a string'), v.trim(), v.minLength(1, 'name must not be empty'), v.maxLength(64), humanText('name', false));

export const SendMessageSchema = v.object({
  action: v.literal('sendmessage'),
  message: MessageText,
  room: v.optional(RoomIdSchema),
  clientMsgId: v.optional(ClientMsgId),
  /** Set when this clientMsgId was sent before: the server then takes the path that a stored original cannot race. */
  retry: v.optional(v.boolean('retry must be true or false')),
  reqId: ReqId,
});
export const JoinRoomSchema = v.object({ action: v.literal('joinroom'), room: RoomIdSchema, reqId: ReqId });
export const LeaveRoomSchema = v.object({ action: v.literal('leaveroom'), room: RoomIdSchema, reqId: ReqId });
/**
 * A public room is named by its creator (`room`). A private room's id is made
 * by the server and unguessable, so asking about an id can never tell a
 * stranger that a private room exists; its creator gives only a display `name`.
 */
export const CreateRoomSchema = v.pipe(
  v.object({
    action: v.literal('createroom'),
    room: v.optional(RoomIdSchema),
    name: v.optional(RoomName),
    private: v.optional(v.boolean('private must be true or false'), false),
    invite: v.optional(v.pipe(v.array(UserNameSchema), v.maxLength(LIMITS.maxInvites)), []),
    reqId: ReqId,
  }),
  v.check((c) => (c.private ? c.room === undefined : c.room !== undefined), 'give "room" for a public room; a private room gets its id from the server'),
  v.check((c) => !c.private || c.name !== undefined, 'a private room needs a "name"'),
);
export const ListRoomsSchema = v.object({
  action: v.literal('listrooms'),
  /** The previous page's `nextCursor`, verbatim; opaque to clients. */
  cursor: v.optional(v.pipe(v.string('cursor must be a string'), v.minLength(1), v.maxLength(LIMITS.maxCursorChars))),
  reqId: ReqId,
});
export const HistorySchema = v.pipe(
  v.object({
    action: v.literal('history'),
    room: RoomIdSchema,
    before: v.optional(Seq),
    after: v.optional(Seq),
    limit: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(LIMITS.historyPageMax))),
    reqId: ReqId,
  }),
  v.check((h) => h.before === undefined || h.after === undefined, 'give before or after, not both'),
);
export const TypingSchema = v.object({ action: v.literal('typing'), room: RoomIdSchema, reqId: ReqId });
/**
 * Seats this socket in every room you belong to (one page of them) and
 * answers `synced` with each room's read position and unread count: the one
 * round trip a new socket needs, however many rooms you are in.
 */
export const SyncSchema = v.object({
  action: v.literal('sync'),
  /** The previous page's `nextCursor`, verbatim. */
  cursor: v.optional(v.pipe(v.string('cursor must be a string'), v.minLength(1), v.maxLength(LIMITS.maxCursorChars))),
  reqId: ReqId,
});
/** You have read `room` up to `seq` (at most its lastSeq); markers only move forward. */
export const ReadSchema = v.object({ action: v.literal('read'), room: RoomIdSchema, seq: Seq, reqId: ReqId });
/** Replaces the text of your message at `seq`; the change is itself an event with its own seq. */
export const EditMessageSchema = v.object({
  action: v.literal('editmessage'),
  room: RoomIdSchema,
  seq: Seq,
  message: MessageText,
  reqId: ReqId,
});
/** Deletes your message at `seq`, leaving a tombstone; the change is itself an event with its own seq. */
export const DeleteMessageSchema = v.object({ action: v.literal('deletemessage'), room: RoomIdSchema, seq: Seq, reqId: ReqId });
/** Opens (creating if need be) the direct-message room between you and the person with this chat name. */
export const OpenDmSchema = v.object({ action: v.literal('opendm'), user: UserNameSchema, reqId: ReqId });
export const PingSchema = v.object({ action: v.literal('ping'), reqId: ReqId });

export const ACTION_SCHEMAS = {
  sendmessage: SendMessageSchema,
  joinroom: JoinRoomSchema,
  leaveroom: LeaveRoomSchema,
  createroom: CreateRoomSchema,
  listrooms: ListRoomsSchema,
  history: HistorySchema,
  typing: TypingSchema,
  ping: PingSchema,
  sync: SyncSchema,
  read: ReadSchema,
  editmessage: EditMessageSchema,
  deletemessage: DeleteMessageSchema,
  opendm: OpenDmSchema,
} as const;

export type ActionName = keyof typeof ACTION_SCHEMAS;
export const ACTIONS = Object.keys(ACTION_SCHEMAS) as ActionName[];
export type ClientAction = { [K in ActionName]: v.InferOutput<(typeof ACTION_SCHEMAS)[K]> }[ActionName];
/** What a client may write: optional fields may be left out. */
export type ClientActionInput = { [K in ActionName]: v.InferInput<(typeof ACTION_SCHEMAS)[K]> }[ActionName];
export type ActionOf<K extends ActionName> = Extract<ClientAction, { action: K }>;

export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { action?: string; reqId?: string; clientMsgId?: string; retryAfterMs?: number } = {},
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Echo back only well-formed correlation ids, so an error frame never reflects junk. */
function correlation(frame: Record<string, unknown>) {
  const out: { action?: string; reqId?: string; clientMsgId?: string } = {};
  if (typeof frame.action === 'string' && frame.action.length <= 32) out.action = frame.action;
  if (typeof frame.reqId === 'string' && frame.reqId.length <= 64) out.reqId = frame.reqId;
  if (typeof frame.clientMsgId === 'string' && CLIENT_MSG_ID_PATTERN.test(frame.clientMsgId)) out.clientMsgId = frame.clientMsgId;
  return out;
}

/**
 * Parse and validate one inbound frame. Action names match case-insensitively,
 * because the tutorial itself writes both `sendmessage` and `sendMessage`.
 * Throws ProtocolError with a stable code; never anything else.
 */
export function parseAction(body: string | undefined | null, isBase64Encoded = false): ClientAction {
  if (isBase64Encoded) throw new ProtocolError('unsupported_frame', 'Binary frames are not supported; send JSON text');
  if (body == null || body === '') throw new ProtocolError('bad_json', 'Empty frame; send a JSON object');
  if (Buffer.byteLength(body, 'utf8') > LIMITS.maxActionBytes) {
    throw new ProtocolError('too_large', `Frames are limited to ${LIMITS.maxActionBytes} bytes`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new ProtocolError('bad_json', 'Frame is not valid JSON');
  }
  if (!isRecord(raw)) throw new ProtocolError('bad_json', 'Frame must be a JSON object');
  const ids = correlation(raw);
  if (typeof raw.action !== 'string') throw new ProtocolError('bad_request', 'Missing "action" string', ids);
  const name = raw.action.toLowerCase();
  if (!Object.hasOwn(ACTION_SCHEMAS, name)) {
    throw new ProtocolError('unknown_action', `Unknown action; expected one of ${ACTIONS.join(', ')}`, ids);
  }
  const schema = ACTION_SCHEMAS[name as ActionName];
  const result = v.safeParse(schema, { ...raw, action: name });
  if (!result.success) {
    const issue = result.issues[0];
    const path = issue.path?.map((p) => String(p.key)).join('.') ?? '';
    if (issue.message === TEXT_TOO_LONG) throw new ProtocolError('text_too_long', issue.message, ids);
    throw new ProtocolError('bad_request', path ? `${path}: ${issue.message}` : issue.message, ids);
  }
  return result.output as ClientAction;
}

// ---------------------------------------------------------------- outbound

export interface UserRef {
  id: string;
  name: string;
}
export interface ChatMessage {
  room: string;
  seq: number;
  id: string;
  senderId: string;
  senderName: string;
  /** The current text: the latest edit's, or '' once deleted. */
  text: string;
  /** Server time, epoch milliseconds. */
  ts: number;
  /** Seq of the latest edit applied to this text, when it was edited: a replayed older change never overwrites a newer one. */
  editSeq?: number;
  /** When it was last edited (epoch ms), for the "edited" mark. */
  editedAt?: number;
  /** Deleted by its sender: a tombstone, with empty text. */
  deleted?: true;
}

/**
 * An edit or a delete of the message at `target`: an event in the room's
 * order, with its own `seq`, so live delivery, catch-up and history all carry it.
 * Apply it when its seq is above the message's `editSeq`; a delete is final.
 */
export type RoomChange =
  | { kind: 'edit'; room: string; seq: number; target: number; text: string; ts: number; senderId: string }
  | { kind: 'delete'; room: string; seq: number; target: number; ts: number; senderId: string };

export interface RoomSummary {
  id: string;
  name: string;
  private: boolean;
  createdBy: string;
  lastSeq: number;
  /** A direct-message room: its two people, by id. Its `name` is both names; show the other person's. */
  dm?: UserRef[];
}

/** A room you belong to, with your read position: seqs up to `lastRead` are read. */
export interface MyRoom extends RoomSummary {
  lastRead: number;
  /** Messages from others after `lastRead`, not deleted; at most LIMITS.unreadMax. */
  unread: number;
}

export type ServerEvent =
  | ({ type: 'message' } & ChatMessage)
  | { type: 'ack'; room: string; seq: number; id: string; ts: number; clientMsgId?: string; reqId?: string; duplicate: boolean }
  | {
      type: 'joined';
      room: RoomSummary;
      members: UserRef[];
      memberCount: number;
      /** Your read position in the room; a room you join for the first time starts read up to its lastSeq. */
      lastRead: number;
      unread: number;
      reqId?: string;
    }
  | { type: 'left'; room: string; reqId?: string }
  | { type: 'presence'; room: string; event: 'join' | 'leave'; user: UserRef; members: UserRef[] }
  | { type: 'typing'; room: string; user: UserRef }
  | {
      type: 'history';
      room: string;
      messages: ChatMessage[];
      /** Seqs in the page's range that hold no message and never will (a failed or duplicate send). */
      skipped: number[];
      /** Edits and deletes whose own seqs are in the page's range; `messages` already show their effect. */
      changes: RoomChange[];
      lastSeq: number;
      hasMore: boolean;
      reqId?: string;
    }
  | {
      type: 'rooms';
      /** The lobby first, then your private rooms, then public rooms; each group by id. */
      rooms: RoomSummary[];
      /** Present when there are more rooms: send it back as `listrooms {cursor}` for the next page. */
      nextCursor?: string;
      reqId?: string;
    }
  | ({ type: 'change'; reqId?: string } & RoomChange)
  | {
      type: 'synced';
      /** The lobby first, then your other rooms by id; this socket now gets each of them live. */
      rooms: MyRoom[];
      /** Present when you belong to more rooms: send `sync {cursor}` to seat and list the next page. */
      nextCursor?: string;
      reqId?: string;
    }
  /** Your read position moved (on this socket or another of yours). */
  /** `unread` is as of the room's `lastSeq`: messages past it, if any arrived first, are not in it. */
  | { type: 'read'; room: string; seq: number; unread: number; lastSeq: number; reqId?: string }
  /** A room became yours on another socket (joined, created), or someone added you (invitation, DM). Send `joinroom` to get it live here. */
  | { type: 'roomadded'; room: MyRoom; by?: UserRef }
  /** You left the room on another socket; this one no longer gets it either. */
  | { type: 'roomremoved'; room: string }
  /** A new public room: sent to everyone in the lobby. */
  | { type: 'roomcreated'; room: RoomSummary }
  | { type: 'pong'; ts: number; reqId?: string }
  | {
      type: 'error';
      code: ErrorCode;
      message: string;
      action?: string;
      reqId?: string;
      clientMsgId?: string;
      retryAfterMs?: number;
    };

export type ServerEventType = ServerEvent['type'];
export type EventOf<T extends ServerEventType> = Extract<ServerEvent, { type: T }>;

export function errorEvent(err: ProtocolError): EventOf<'error'> {
  return { type: 'error', code: err.code, message: err.message, ...err.details };
}
