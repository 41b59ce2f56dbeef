/**
 * The home region's side of forwarding: what another region's chat function
 * asks a room's home to do, as plain JSON (a Lambda invoke payload), and the
 * answer. Only the home region writes a room's items, so every write to a
 * room's partition from another region comes through here.
 */
import type { ChatUser } from './connections';
import type { ErrorCode, ProtocolError } from './protocol';

export type HomeRequest =
  | { op: 'send'; room: string; sender: ChatUser; text: string; clientMsgId?: string; ts: number; firstAttempt: boolean };

export type HomeResponse<T = unknown> =
  | { ok: true; value: T }
  | { ok: false; error: { code: ErrorCode; message: string; details?: ProtocolError['details'] } };
