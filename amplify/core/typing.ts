import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ChatDeps } from './deps';
import { keys } from './keys';
import { LIMITS } from './protocol';

/**
 * True at most once per LIMITS.typingEveryMs for a user in a room, across all
 * of that user's sockets and every container: one conditional write decides.
 * A typing frame inside the window is coalesced into the one already sent.
 * Returns when the window it opened ends (epoch ms), or undefined if coalesced.
 */
export async function typingDue(deps: ChatDeps, userId: string, room: string): Promise<number | undefined> {
  const now = deps.now();
  const until = now + LIMITS.typingEveryMs;
  try {
    await deps.db.send(
      new UpdateCommand({
        TableName: deps.tables.connections,
        Key: keys.typing(userId, room),
        UpdateExpression: 'SET #until = :until, expiresAt = :exp',
        ConditionExpression: 'attribute_not_exists(#until) OR #until <= :now',
        ExpressionAttributeNames: { '#until': 'until' },
        ExpressionAttributeValues: { ':until': until, ':now': now, ':exp': Math.floor(now / 1000) + 3600 },
      }),
    );
    return until;
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return undefined;
    throw err;
  }
}

/**
 * A message ends the typing it came from: the next keystroke after a send is
 * news again (clients drop a sender's indicator when the message lands).
 */
export async function typingDone(deps: ChatDeps, userId: string, room: string): Promise<void> {
  await deps.db.send(new DeleteCommand({ TableName: deps.tables.connections, Key: keys.typing(userId, room) }));
}
