/**
 * Global tables on one machine: each replicated table has a replica per
 * region (a table on that region's DynamoDB Local), and every write a replica's
 * stream shows is copied to the others, after a one-way delay, with
 * last-writer-wins per item, as DynamoDB global tables (MREC) resolve it.
 *
 * What it keeps faithful, because Parley's correctness depends on it:
 * - conditions are checked against the local replica only (the copy is a
 *   plain Put or Delete, never conditional);
 * - a concurrent write to the same item in two regions converges to the
 *   later one everywhere, and the earlier one is lost;
 * - items travel independently, so with jitter a later item can arrive
 *   before an earlier one (occasional reordering), never an older version of
 *   the same item after a newer one.
 *
 * The copy a replica receives shows up in its own stream too; it is matched
 * to what was applied (an echo) and not sent back.
 */
import { DeleteItemCommand, PutItemCommand, ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { dynamoClient } from '../dynamodb';
import { enableStream, keyOf, readStream, streamsClient, type Image, type StreamReader, type StreamRecord } from './streams';

export interface Replica {
  region: string;
  endpoint: string;
  table: string;
}

export interface ReplicationOptions {
  /** Each replicated table (by id, e.g. 'chat'): its key attributes and its replica in every region. */
  tables: Record<string, { keys: readonly string[]; replicas: Replica[] }>;
  /** Copy what the first replica already holds to the others before replicating (a table that predates the regions). */
  seed?: string[];
  /** One-way delay between regions. */
  delayMs: number;
  /** Up to this much more, at random, per item. */
  jitterMs: number;
  /** This share of items waits one delay more: they overtake nothing of their own, but arrive after later items. */
  reorderRate: number;
  /** How long a stream reader waits after an empty poll. */
  pollMs: number;
  log?: (line: string) => void;
}

export interface Replication {
  /** Holds copies from one region to another until resume (a partitioned link). */
  pause(from: string, to: string): void;
  resume(from: string, to: string): void;
  /** Resolves once every write so far has reached every replica it is not held from; throws after `timeoutMs`, saying what is outstanding. */
  settled(timeoutMs?: number): Promise<void>;
  stats(): { copied: number; superseded: number };
  stop(): Promise<void>;
}

interface Write {
  ts: number;
  origin: string;
  image: Image | null;
  serial: string;
  keys: Image;
}

/** An image as a string that does not depend on attribute or set order. */
function canonical(image: Image | null | undefined): string {
  if (!image) return 'null';
  const norm = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(norm);
    if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
      const o = v as Record<string, unknown>;
      return Object.fromEntries(
        Object.keys(o)
          .sort()
          .map((k) => [k, k === 'SS' || k === 'NS' ? [...(o[k] as string[])].sort() : norm(o[k])]),
      );
    }
    return v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v;
  };
  return JSON.stringify(norm(image));
}

export async function startReplication(opts: ReplicationOptions): Promise<Replication> {
  const readers: StreamReader[] = [];
  const clients: DynamoDBClient[] = [];
  const paused = new Set<string>();
  const held = new Map<string, (() => void)[]>();
  let scheduled = 0;
  let copied = 0;
  let superseded = 0;
  let clock = 0;
  const link = (from: string, to: string) => `${from}\u0000${to}`;
  const log = opts.log ?? (() => undefined);
  const expectations: Map<string, string[]>[] = [];

  for (const [id, { keys: keyNames, replicas }] of Object.entries(opts.tables)) {
    const winners = new Map<string, Write>();
    const ddbs = replicas.map((r) => dynamoClient(r.endpoint));
    clients.push(...ddbs);
    // Per replica: images applied there whose stream record has not come back yet.
    const expected = replicas.map(() => new Map<string, string[]>());
    expectations.push(...expected);
    // Per replica: the image of each item it last showed or was given. A write that changes nothing
    // shows no stream record, so such a copy is not made (its echo would never come).
    const holds = replicas.map(() => new Map<string, string>());

    // One copy at a time per item and replica, so two copies of an item cannot land out of order.
    const chains = replicas.map(() => new Map<string, Promise<void>>());
    const write = (to: number, k: string, w: Pick<Write, 'image' | 'serial' | 'keys'>): Promise<void> => {
      const next = (chains[to]!.get(k) ?? Promise.resolve()).then(() => put(to, k, w));
      chains[to]!.set(k, next);
      void next.then(() => chains[to]!.get(k) === next && chains[to]!.delete(k));
      return next;
    };
    const put = async (to: number, k: string, w: Pick<Write, 'image' | 'serial' | 'keys'>): Promise<void> => {
      if ((holds[to]!.get(k) ?? 'null') === w.serial) return;
      holds[to]!.set(k, w.serial);
      const list = expected[to]!.get(k) ?? [];
      list.push(w.serial);
      expected[to]!.set(k, list);
      const table = replicas[to]!.table;
      for (let attempt = 0; ; attempt++) {
        try {
          if (w.image) await ddbs[to]!.send(new PutItemCommand({ TableName: table, Item: w.image }));
          else await ddbs[to]!.send(new DeleteItemCommand({ TableName: table, Key: w.keys }));
          copied++;
          return;
        } catch (err) {
          if (attempt >= 20) {
            log(`replication: ${id} to ${replicas[to]!.region} failed: ${String(err)}`);
            return;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };

    const copyTo = (to: number, k: string, w: Write) => {
      const key = link(w.origin, replicas[to]!.region);
      const delay = opts.delayMs + Math.random() * opts.jitterMs + (Math.random() < opts.reorderRate ? opts.delayMs : 0);
      scheduled++;
      setTimeout(() => {
        const run = () => {
          // A newer write of this item (from anywhere) supersedes this one on the way: last writer wins.
          const done = winners.get(k) === w ? write(to, k, w) : ((superseded++, Promise.resolve()));
          void done.finally(() => scheduled--);
        };
        if (paused.has(key)) held.set(key, [...(held.get(key) ?? []), run]);
        else run();
      }, delay);
    };

    const onRecords = async (from: number, records: StreamRecord[]) => {
      for (const record of records) {
        const k = keyOf(record);
        const image = (record.eventName === 'REMOVE' ? null : (record.dynamodb?.NewImage as Image | undefined)) ?? null;
        const serial = canonical(image);
        const before = holds[from]!.get(k);
        holds[from]!.set(k, serial);
        // A record that changes nothing this side knows of (DynamoDB Local shows some no-op writes) is no new write.
        if (before === serial && !expected[from]!.get(k)?.includes(serial)) continue;
        const pending = expected[from]!.get(k);
        const echo = pending?.indexOf(serial) ?? -1;
        if (echo >= 0) {
          // Earlier copies of the item are behind this one (DynamoDB Local may show only the last of quick successive writes).
          pending!.splice(0, echo + 1);
          if (pending!.length === 0) expected[from]!.delete(k);
          // A local write that landed just before the copy lost to it here, yet won everywhere else: put the winner back.
          const winner = winners.get(k);
          if (winner && winner.serial !== serial && winner.origin !== replicas[from]!.region) void write(from, k, winner);
          continue;
        }
        clock = Math.max(Date.now(), clock + 0.001);
        const w: Write = { ts: clock, origin: replicas[from]!.region, image, serial, keys: (record.dynamodb?.Keys ?? {}) as Image };
        winners.set(k, w);
        replicas.forEach((_, to) => to !== from && copyTo(to, k, w));
      }
    };

    // Readers first, then the seed copy: a write during the copy is then replicated after it, and wins.
    for (const [i, r] of replicas.entries()) {
      const streamArn = await enableStream(ddbs[i]!, r.table);
      readers.push(
        readStream({
          client: streamsClient(r.endpoint),
          streamArn,
          from: 'LATEST',
          idleMs: opts.pollMs,
          onRecords: (records) => onRecords(i, records),
          onError: (err) => log(`replication: reading ${id} in ${r.region}: ${String(err)}`),
        }),
      );
    }
    await Promise.all(readers.slice(-replicas.length).map((r) => r.caughtUp()));
    if (opts.seed?.includes(id)) {
      let start: Image | undefined;
      do {
        const page = await ddbs[0]!.send(new ScanCommand({ TableName: replicas[0]!.table, ExclusiveStartKey: start }));
        for (const item of page.Items ?? []) {
          const keys = Object.fromEntries(keyNames.map((n) => [n, item[n]!])) as Image;
          const k = keyOf({ dynamodb: { Keys: keys } });
          for (let to = 1; to < replicas.length; to++) await write(to, k, { image: item, serial: canonical(item), keys });
        }
        start = page.LastEvaluatedKey;
      } while (start);
    }
  }

  return {
    pause: (from, to) => void paused.add(link(from, to)),
    resume(from, to) {
      const key = link(from, to);
      paused.delete(key);
      const runs = held.get(key) ?? [];
      held.delete(key);
      for (const run of runs) run();
    },
    async settled(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        await Promise.all(readers.map((r) => r.caughtUp()));
        const heldCount = [...held.values()].reduce((n, runs) => n + runs.length, 0);
        const echoes = expectations.flatMap((m) => [...m.keys()]);
        if (scheduled - heldCount === 0 && echoes.length === 0) return;
        if (Date.now() > deadline) {
          throw new Error(`replication did not settle in ${timeoutMs} ms: ${scheduled - heldCount} copies under way, copies not yet seen in their replica's stream: ${echoes.slice(0, 5).join(', ')}`);
        }
        await new Promise((r) => setTimeout(r, opts.pollMs));
      }
    },
    stats: () => ({ copied, superseded }),
    async stop() {
      await Promise.all(readers.map((r) => r.stop()));
      for (const c of clients) c.destroy();
    },
  };
}

