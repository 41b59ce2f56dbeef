/**
 * Figure 9: global reach on the two-region local stack (local/regions): a
 * room homed in region A with people in both regions, one message at a time.
 * Cross-region delivery (A's sender, B's reader: replication with the
 * injected one-way delay, then B's stream fan-out) against same-region
 * delivery (A's reader: the home's direct fan-out), both in the same run;
 * and the ack of a send from B (forwarded to A by Lambda invoke) against the
 * ack of a send from A.
 */
import WebSocket from 'ws';
import type { ServerEvent } from '../../amplify/core/protocol';
import { startRegions } from '../../local/regions';
import { deadlineAfter, progress, sleep, type Mode } from '../env';
import type { Figure } from '../report';
import { finite, round, summarize } from '../stats';

const DELAY_MS = 70;

interface Socket {
  ws: WebSocket;
  /** When the next matching event arrived (performance.now()), and the event. */
  on(match: (e: ServerEvent) => boolean): Promise<{ at: number; event: ServerEvent }>;
}

async function open(url: string, token: string): Promise<Socket> {
  const ws = new WebSocket(`${url}?token=${encodeURIComponent(token)}`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const waiters: { match: (e: ServerEvent) => boolean; resolve: (got: { at: number; event: ServerEvent }) => void }[] = [];
  ws.on('message', (data) => {
    const at = performance.now();
    const event = JSON.parse(String(data)) as ServerEvent;
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (w.match(event)) {
        waiters.splice(i, 1);
        w.resolve({ at, event });
      }
    }
  });
  return {
    ws,
    on: (match) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('timed out')), 10_000);
        waiters.push({ match, resolve: (got) => (clearTimeout(timer), resolve(got)) });
      }),
  };
}

const request = (s: Socket, frame: Record<string, unknown>, type: string): Promise<{ at: number; event: ServerEvent }> => {
  const reqId = `r${Math.random().toString(36).slice(2)}`;
  const done = s.on((e) => (e as { reqId?: string }).reqId === reqId && (e.type === type || e.type === 'error'));
  s.ws.send(JSON.stringify({ ...frame, reqId }));
  return done;
};

export async function regionsFigure(ctx: { mode: Mode }): Promise<Figure> {
  const samples = ctx.mode === 'quick' ? 20 : 100;
  progress(`  starting two regions (${DELAY_MS} ms one-way delay)`);
  const regions = await startRegions({ delayMs: DELAY_MS });
  const sockets: Socket[] = [];
  try {
    const [a, b] = regions.regions;
    const connect = async (url: string, name: string) => {
      const s = await open(url, await regions.token(name));
      sockets.push(s);
      return s;
    };
    const [sendA, readA, sendB, readB] = [
      await connect(a!.websocketUrl, 'bench-sender-a'),
      await connect(a!.websocketUrl, 'bench-reader-a'),
      await connect(b!.websocketUrl, 'bench-sender-b'),
      await connect(b!.websocketUrl, 'bench-reader-b'),
    ];
    await request(sendA, { action: 'createroom', room: 'bench-world', name: 'bench-world', private: false }, 'joined');
    for (const s of [readA, sendB, readB]) {
      // The room's claim reaches B's replica after the delay: join until it is there.
      for (let i = 0; ; i++) {
        const { event } = await request(s, { action: 'joinroom', room: 'bench-world' }, 'joined');
        if (event.type === 'joined') break;
        if (i > 100) throw new Error(`joinroom: ${JSON.stringify(event)}`);
        await sleep(50);
      }
    }

    const same: number[] = [];
    const cross: number[] = [];
    const ackHome: number[] = [];
    const ackAway: number[] = [];
    const deadline = deadlineAfter(120_000);
    for (let i = 0; i < samples + 5 && !deadline.passed(); i++) {
      for (const [sender, acks] of [
        [sendA, ackHome],
        [sendB, ackAway],
      ] as const) {
        const text = `m${i}-${acks === ackHome ? 'a' : 'b'}`;
        const got = (s: Socket) => s.on((e) => e.type === 'message' && e.text === text);
        const [atA, atB] = [got(readA), got(readB)];
        const t0 = performance.now();
        const { at: acked, event } = await request(sender, { action: 'sendmessage', room: 'bench-world', message: text, clientMsgId: text }, 'ack');
        if (event.type !== 'ack') throw new Error(`send: ${JSON.stringify(event)}`);
        const [{ at: ta }, { at: tb }] = await Promise.all([atA, atB]);
        if (i < 5) continue;
        acks.push(acked - t0);
        // Delivery is measured from A's sends only: the home writes, A's reader is same-region, B's is across.
        if (sender === sendA) {
          same.push(ta - t0);
          cross.push(tb - t0);
        }
        // Each sender stays under the 10 actions/s rate limit.
        await sleep(60);
      }
    }
    const s = summarize(same);
    const c = summarize(cross);
    const h = summarize(ackHome);
    const w = summarize(ackAway);
    const added = c.p50 - s.p50;
    const goal = DELAY_MS + 50;
    return {
      id: 9,
      title: 'Global reach (two local regions)',
      method:
        `Two regions on this machine: a DynamoDB Local each with streams, a replicator per direction adding ${DELAY_MS} ms one way (last-writer-wins, ` +
        `occasional reordering), a gateway process each, and a stream poller playing Lambda's event source mapping. A room homed in A; ` +
        `${same.length} messages from A, one at a time, received in A (same region, the home's direct fan-out) and in B (replicated, then B's ` +
        `stream fan-out); and as many sends from B, forwarded to A by Lambda invoke, whose ack is set against a send from A.`,
      rows: [
        { metric: 'delivery p50, cross-region', unit: 'ms', parley: finite(round(c.p50, 1)), baseline: finite(round(s.p50, 1)), baselineLabel: 'same region', better: 'lower', ratio: false },
        { metric: 'delivery p99, cross-region', unit: 'ms', parley: finite(round(c.p99, 1)), baseline: finite(round(s.p99, 1)), baselineLabel: 'same region', better: 'lower', ratio: false },
        {
          metric: `cross-region delay added at p50 (one-way delay ${DELAY_MS} ms)`,
          unit: 'ms',
          parley: finite(round(added, 1)),
          baseline: goal,
          baselineLabel: 'goal: delay + 50',
          better: 'lower',
          ratio: false,
          goal: { text: `≤ ${goal} ms`, met: Number.isFinite(added) ? added <= goal : null },
        },
        { metric: 'delay added at p99', unit: 'ms', parley: finite(round(c.p99 - s.p99, 1)), baseline: null, better: 'lower', ratio: false },
        { metric: 'send → ack p50, from a non-home region', unit: 'ms', parley: finite(round(w.p50, 1)), baseline: finite(round(h.p50, 1)), baselineLabel: 'from the home region', better: 'lower', ratio: false },
        { metric: 'send → ack p99, from a non-home region', unit: 'ms', parley: finite(round(w.p99, 1)), baseline: finite(round(h.p99, 1)), baselineLabel: 'from the home region', better: 'lower', ratio: false },
      ],
      notes: [
        `Forwarding costs ${round(w.p50 - h.p50, 1)} ms at p50: the Lambda invoke to A and back (in AWS, add the inter-region round trip).`,
        'Local stream readers (replication and the fan-out poller) poll every 10 ms when idle. In AWS, global-table replication typically takes about a second and Lambda polls a DynamoDB stream four times a second per shard, so expect cross-region delivery near one second there, not the figure above; what this figure shows is that Parley adds little beyond the replication it waits for.',
      ],
    };
  } finally {
    for (const s of sockets) s.ws.close();
    await regions.close();
  }
}
