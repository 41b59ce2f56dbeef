/**
 * Which region a room belongs to, and how to reach it. A room's home region
 * (META `homeRegion`, fixed at creation) is the only one that writes the
 * room's items: under a global table's last-writer-wins, conditions hold
 * only against the local replica, so one writer per item is what keeps them
 * true. The lobby is the primary's; a new room is claimed in the primary
 * and homed where its creator is.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { ChatDeps } from './deps';
import { keys } from './keys';
import { DEFAULT_ROOM, ProtocolError } from './protocol';

/** Rooms never move, so a container remembers each home it has read. Bounded: ids are cheap to re-read. */
const homes = new Map<string, string>();
const HOMES_MAX = 10_000;

/** The region of this deployment that decides room ids and owns the lobby. */
export const primaryOf = (deps: ChatDeps): string => deps.primaryRegion ?? deps.homeRegion;

/** True when this function runs in the primary region. */
export const inPrimary = (deps: ChatDeps): boolean => primaryOf(deps) === deps.homeRegion;

/**
 * The room's home region, or undefined when this region's replica has no such
 * room (yet). A single-region deployment (no forwarder) is home to everything
 * and reads nothing.
 */
export async function homeOf(deps: ChatDeps, room: string): Promise<string | undefined> {
  if (!deps.forward) return deps.homeRegion;
  if (room === DEFAULT_ROOM) return primaryOf(deps);
  const memo = `${deps.tables.chat}/${room}`;
  const known = homes.get(memo);
  if (known) return known;
  const res = await deps.db.send(new GetCommand({ TableName: deps.tables.chat, Key: keys.roomMeta(room), ProjectionExpression: 'homeRegion' }));
  const home = typeof res.Item?.homeRegion === 'string' ? res.Item.homeRegion : undefined;
  if (home) {
    if (homes.size >= HOMES_MAX) homes.clear();
    homes.set(memo, home);
  }
  return home;
}

/** The home, or room_not_found: for actions on a room that must exist. */
export async function requireHome(deps: ChatDeps, room: string): Promise<string> {
  const home = await homeOf(deps, room);
  if (!home) throw new ProtocolError('room_not_found', `No room "${room}", or you are not a member`);
  return home;
}

/** Whether `region` is this one: where the call can run locally. */
export const isHere = (deps: ChatDeps, region: string): boolean => region === deps.homeRegion;

/** The refusal for a room whose home cannot be reached. Reads still work; the client retries. */
export const homeUnavailable = (region: string): ProtocolError =>
  new ProtocolError('home_unavailable', `This room's home region (${region}) cannot be reached right now; please retry`, { retryAfterMs: 2000 });
