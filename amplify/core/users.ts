/**
 * The chat-name registry: one claim per name fold (names.ts), written once
 * when an account is created and never moved. Invitations resolve names here,
 * and the authorizer refuses a token whose name is not its user's claim.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ChatUser } from './connections';
import { batchGetAll } from './db';
import { keys } from './keys';
import { NAME_RULE, nameProblem, SIGN_UP_REFUSALS } from './names';
import { ProtocolError } from './protocol';

export interface Registry {
  db: DynamoDBDocumentClient;
  table: string;
}

export type ClaimOutcome = 'claimed' | 'taken' | 'invalid';

/** First claim wins; claiming again for the same user (a retried sign-up) is a no-op. */
export async function claimName(registry: Registry, who: ChatUser, now = Date.now()): Promise<ClaimOutcome> {
  if (nameProblem(who.userName)) return 'invalid';
  try {
    await registry.db.send(
      new PutCommand({
        TableName: registry.table,
        Item: { ...keys.userName(who.userName), userId: who.userId, userName: who.userName, claimedAt: now },
        ConditionExpression: 'attribute_not_exists(pk) OR userId = :id',
        ExpressionAttributeValues: { ':id': who.userId },
      }),
    );
    return 'claimed';
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return 'taken';
    throw err;
  }
}

/**
 * The Pre sign-up trigger's work: claim the name before the account exists,
 * or throw so Cognito refuses the sign-up with UserLambdaValidationException.
 * The message starts with the code, so the form can say which it was. In a
 * pool that signs in with email, `userName` is the new account's sub.
 */
export async function claimAtSignUp<E extends { userName: string; request: { userAttributes: Record<string, string | undefined> } }>(
  registry: Registry,
  event: E,
): Promise<E> {
  const name = event.request.userAttributes.preferred_username ?? '';
  const outcome = await claimName(registry, { userId: event.userName, userName: name });
  if (outcome === 'invalid') throw new Error(`${SIGN_UP_REFUSALS.invalid}: ${NAME_RULE}`);
  if (outcome === 'taken') throw new Error(`${SIGN_UP_REFUSALS.taken}: That chat name is taken`);
  return event;
}

/** True only if this exact name (as typed at sign-up) is claimed by this user id. */
export async function ownsName(registry: Registry, who: ChatUser): Promise<boolean> {
  if (nameProblem(who.userName)) return false;
  const res = await registry.db.send(new GetCommand({ TableName: registry.table, Key: keys.userName(who.userName), ConsistentRead: true }));
  return res.Item?.userId === who.userId && res.Item?.userName === who.userName;
}

/** Names to user ids, or `unknown_user` naming the ones nobody claimed. */
export async function resolveNames(registry: Registry, names: readonly string[]): Promise<ChatUser[]> {
  const unique = [...new Map(names.map((n) => [keys.userName(n).pk, n])).values()];
  if (unique.length === 0) return [];
  const items = await batchGetAll(registry.db, registry.table, unique.map((n) => keys.userName(n)));
  const found = new Map(items.map((item) => [String(item.pk), { userId: String(item.userId), userName: String(item.userName) }]));
  const missing = unique.filter((n) => !found.has(keys.userName(n).pk));
  if (missing.length) throw new ProtocolError('unknown_user', `Unknown user name(s): ${missing.join(', ')}`);
  return [...found.values()];
}
