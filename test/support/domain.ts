import { inject } from 'vitest';
import { randomBytes } from 'node:crypto';
import { CHAT_TABLE, CONNECTIONS_TABLE } from '../../amplify/realtime/tables';
import type { ChatDeps, Notifier } from '../../amplify/core/deps';
import type { ServerEvent } from '../../amplify/core/protocol';
import { createTable, dynamoClient } from '../../local/dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** Our own Notifier interface, recording what would be posted: no SDK is mocked. */
export class RecordingNotifier implements Notifier {
  readonly sent = new Map<string, ServerEvent[]>();
  readonly gone = new Set<string>();
  inFlight = 0;
  maxInFlight = 0;
  constructor(private readonly latencyMs = 0) {}

  async post(connectionId: string, data: Uint8Array): Promise<'ok' | 'gone'> {
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
export async function domainFixture(opts: { latencyMs?: number; fanoutConcurrency?: number } = {}): Promise<DomainFixture> {
  const endpoint = inject('dynamoEndpoint');
  const suffix = randomBytes(4).toString('hex');
  const tables = { connections: `t-conn-${suffix}`, chat: `t-chat-${suffix}` };
  const client = dynamoClient(endpoint);
  await Promise.all([createTable(client, CONNECTIONS_TABLE, tables.connections), createTable(client, CHAT_TABLE, tables.chat)]);
  const notifier = new RecordingNotifier(opts.latencyMs);
  const clock = { now: Date.now() };
  const deps: ChatDeps = {
    db: DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }),
    tables,
    notifier,
    fanoutConcurrency: opts.fanoutConcurrency ?? 64,
    homeRegion: 'local',
    now: () => clock.now,
  };
  return { deps, notifier, clock };
}
