import { inject } from 'vitest';
import { randomBytes } from 'node:crypto';
import { CHAT_TABLE, CONNECTIONS_TABLE, USERS_TABLE } from '../../amplify/realtime/tables';
import { ContainerCache } from '../../amplify/core/cache';
import type { ChatDeps, Notifier } from '../../amplify/core/deps';
import { ProtocolError, type EventOf, type ServerEvent } from '../../amplify/core/protocol';
import { ConnectionGone } from '../../amplify/core/errors';
import { createTable, dynamoClient } from '../../local/dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** Our own Notifier interface, recording what would be posted: no SDK is mocked. */
export class RecordingNotifier implements Notifier {
  readonly sent = new Map<string, ServerEvent[]>();
  readonly gone = new Set<string>();
  /** Every post, delivered or not, in order: to check what was sent to a connection that was gone. */
  readonly attempts: string[] = [];
  readonly closed: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(private readonly latencyMs = 0) {}

  async post(connectionId: string, data: Uint8Array): Promise<'ok' | 'gone'> {
    this.attempts.push(connectionId);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.latencyMs) await new Promise((r) => setTimeout(r, this.latencyMs));
      if (this.gone.has(connectionId)) return 'gone';
      const list = this.sent.get(connectionId) ?? [];
      list.push(JSON.parse(new TextDecoder().decode(data)) as ServerEvent);
      this.sent.set(connectionId, list);
      return 'ok';
    } finally {
      this.inFlight--;
    }
  }

  async close(connectionId: string): Promise<'ok' | 'gone'> {
    if (this.gone.has(connectionId)) return 'gone';
    this.closed.push(connectionId);
    this.gone.add(connectionId);
    return 'ok';
  }

  of(connectionId: string): ServerEvent[] {
    return this.sent.get(connectionId) ?? [];
  }
}

export interface DomainFixture {
  deps: ChatDeps;
  notifier: RecordingNotifier;
  clock: { now: number };
}

/** Fresh tables on the shared DynamoDB Local, a recording notifier and a clock the test controls. */
/** `cache: false` leaves out the container's memory, as a cold container (or several) would see the tables. */
export async function domainFixture(opts: { latencyMs?: number; fanoutConcurrency?: number; cache?: boolean } = {}): Promise<DomainFixture> {
  const endpoint = inject('dynamoEndpoint');
  const suffix = randomBytes(4).toString('hex');
  const tables = { connections: `t-conn-${suffix}`, chat: `t-chat-${suffix}`, users: `t-users-${suffix}` };
  const client = dynamoClient(endpoint);
  await Promise.all([
    createTable(client, CONNECTIONS_TABLE, tables.connections),
    createTable(client, CHAT_TABLE, tables.chat),
    createTable(client, USERS_TABLE, tables.users),
  ]);
  const notifier = new RecordingNotifier(opts.latencyMs);
  const clock = { now: Date.now() };
  const deps: ChatDeps = {
    db: DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }),
    tables,
    notifier,
    fanoutConcurrency: opts.fanoutConcurrency ?? 64,
    homeRegion: 'local',
    now: () => clock.now,
    ...(opts.cache === false ? {} : { cache: new ContainerCache() }),
  };
  return { deps, notifier, clock };
}

/** What a domain call ended in: 'ok', a protocol error's code, or 'gone' when its connection left mid-action. */
export async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ProtocolError) return err.code;
    if (err instanceof ConnectionGone) return 'gone';
    throw err;
  }
  return 'ok';
}

export const ofType = <T extends ServerEvent['type']>(events: ServerEvent[], type: T) =>
  events.filter((e): e is EventOf<T> => e.type === type);
