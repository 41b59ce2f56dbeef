/**
 * The home region's side of forwarding: the writes to a room's partition
 * that only its home may make, as plain JSON requests (a Lambda invoke
 * payload when the caller is in another region). `atHome` runs one where the
 * room lives: here, or through deps.forward. Either way the same function
 * does the work, so a single-region deployment and the home region share one
 * code path.
 */
import { removeOthersFromRoom, userSockets, type ChatUser } from './connections';
import type { ChatDeps } from './deps';
import { deleteMessage, editMessage } from './edits';
import { deliver, recipientsAt } from './fanout';
import { reserveSeq, storeMessage, type Posted } from './messages';
import { addMember, announceRoom, endMember, ensureLobbyMarker, moveMarker } from './membership';
import type { ErrorCode, ProtocolError, RoomChange } from './protocol';
import { insertRoom, type Room, type RoomItem } from './rooms';
import { homeUnavailable, isHere, primaryOf } from './regions';

/** What a membership write needs to know of its room. */
export interface RoomRef {
  id: string;
  name: string;
  private: boolean;
}

/** Each operation's request (beside `op`) and result. Results are JSON: null, never undefined. */
interface Ops {
  /** Sequence and store a message, and deliver it to this region's sockets in the room. */
  send: {
    req: { room: string; sender: ChatUser; text: string; clientMsgId?: string; ts: number; firstAttempt: boolean; ackedConnection?: string };
    res: Posted;
  };
  /** An edit (with `text`) or a delete, delivered to this region's sockets. */
  change: { req: { room: string; caller: ChatUser; target: number; text?: string }; res: RoomChange };
  addMember: { req: { room: RoomRef; who: ChatUser; lastRead: number }; res: boolean };
  /** Ends the membership, and unseats the user's sockets of this region from the room. */
  endMember: { req: { room: RoomRef; who: ChatUser }; res: boolean };
  moveMarker: { req: { room: string; who: ChatUser; seq: number }; res: { lastRead: number; moved: boolean } | null };
  lobbyMarker: { req: { who: ChatUser; lastRead: number }; res: null };
  /** The primary's claim of a new room id, with its members; `roomcreated` to the primary's lobby for a public room made elsewhere. */
  insertRoom: { req: { meta: RoomItem; members: ChatUser[] }; res: Room };
}
export type HomeOp = keyof Ops;
export type HomeRequestOf<K extends HomeOp> = { op: K } & Ops[K]['req'];
export type HomeRequest = { [K in HomeOp]: HomeRequestOf<K> }[HomeOp];
export type HomeResult<K extends HomeOp> = Ops[K]['res'];

export type HomeResponse<T = unknown> =
  | { ok: true; value: T }
  | { ok: false; error: { code: ErrorCode; message: string; details?: ProtocolError['details'] } };

/** `remote`: the request came from another region's function (so this region's sockets of the caller are not theirs to handle). */
const OPS: { [K in HomeOp]: (deps: ChatDeps, req: HomeRequestOf<K>, remote: boolean) => Promise<HomeResult<K>> } = {
  async send(deps, { room, sender, text, clientMsgId, ts, firstAttempt, ackedConnection }) {
    const reservation = await reserveSeq(deps, room);
    const recipients = recipientsAt(deps, room, reservation);
    recipients.catch(() => undefined);
    const posted = await storeMessage(deps, room, reservation.seq, sender, text, clientMsgId, ts, firstAttempt, ackedConnection);
    // The sender's region answers the sender; this region's sockets hear it from here, the rest from their streams.
    if (!posted.duplicate) await deliver(deps, await recipients, { type: 'message', ...posted.message }, room);
    return posted;
  },
  async change(deps, { room, caller, target, text }) {
    const { change, reservation } =
      text === undefined ? await deleteMessage(deps, room, caller, target) : await editMessage(deps, room, caller, target, text);
    await deliver(deps, await recipientsAt(deps, room, reservation), { type: 'change', ...change }, room);
    return change;
  },
  addMember: (deps, { room, who, lastRead }) => addMember(deps, room, who, lastRead),
  async endMember(deps, { room, who }, remote) {
    const ended = await endMember(deps, room, who.userId);
    if (ended && remote) {
      // The leaver's region unseats its own sockets; theirs here would otherwise go on hearing the room.
      const sockets = await userSockets(deps, who);
      await removeOthersFromRoom(deps, sockets.map((s) => s.connectionId), room.id);
      await deliver(deps, sockets, { type: 'roomremoved', room: room.id });
    }
    return ended;
  },
  moveMarker: async (deps, { room, who, seq }) => (await moveMarker(deps, who, room, seq)) ?? null,
  async lobbyMarker(deps, { who, lastRead }) {
    await ensureLobbyMarker(deps, who, lastRead);
    return null;
  },
  async insertRoom(deps, { meta, members }) {
    const room = await insertRoom(deps, meta, members);
    if (!room.private && !isHere(deps, room.homeRegion)) {
      await announceRoom(deps, room).catch(() => undefined);
    }
    return room;
  },
};

/**
 * Runs `req` in `region`: here when it is this one, else in that region's
 * home function. Its refusals arrive as the same ProtocolErrors; a region
 * that cannot be reached is home_unavailable.
 */
export function atHome<K extends HomeOp>(deps: ChatDeps, region: string, req: HomeRequestOf<K>): Promise<HomeResult<K>> {
  if (isHere(deps, region)) return (OPS[req.op] as (d: ChatDeps, r: HomeRequestOf<K>, remote: boolean) => Promise<HomeResult<K>>)(deps, req, false);
  if (!deps.forward) return Promise.reject(homeUnavailable(region));
  return deps.forward(region, req as HomeRequest) as Promise<HomeResult<K>>;
}

/** Runs `req` in the primary region (room ids, the lobby). */
export const atPrimary = <K extends HomeOp>(deps: ChatDeps, req: HomeRequestOf<K>): Promise<HomeResult<K>> => atHome(deps, primaryOf(deps), req);

/** The home function's entry: one request, run here (it is this region's to run). */
export function runHere(deps: ChatDeps, req: HomeRequest): Promise<unknown> {
  const op = OPS[req.op] as ((d: ChatDeps, r: HomeRequest, remote: boolean) => Promise<unknown>) | undefined;
  if (!op) throw new Error(`Unknown home operation ${String((req as { op?: unknown }).op)}`);
  return op(deps, req, true);
}
