/**
 * Permissions match the code. Local mode has no IAM, so local/iam.ts records
 * every AWS call each handler makes (through its real SDK clients) as
 * (function, IAM action, resource) and checks it against FUNCTION_ACCESS, the
 * list the CDK construct turns into the functions' roles.
 *
 * First the check itself, shown able to fail; then one scenario through the
 * real stack that takes every path on purpose: connect, every action, the
 * error branches, fan-out to connections that are gone (from each of connect,
 * chat and disconnect), a lost session, an expired token and disconnects. At
 * the end nothing may be outside the grants, and every grant must have been
 * used by some path, so nothing is granted that no code needs.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '../amplify/core/keys';
import { LIMITS } from '../amplify/core/protocol';
import { FUNCTION_ACCESS, type FunctionAccess } from '../amplify/realtime/permissions';
import { dynamoClient } from '../local/dynamodb';
import {
  assertWithinGrants,
  describeCalls,
  dynamoRequirements,
  isGranted,
  outsideGrants,
  UNATTRIBUTED,
  unusedGrants,
  type AwsCall,
  type RecordedCall,
} from '../local/iam';
import type { LocalStack } from '../local/stack';
import { TestClient } from './support/client';
import { testStack } from './support/stack';
import { twoRegions, type Regions } from './support/regions';

/** The grants as they were before this check existed: connect could not prune a gone recipient. */
const BEFORE: Record<string, FunctionAccess> = {
  ...FUNCTION_ACCESS,
  connect: {
    tables: { connections: ['dynamodb:PutItem', 'dynamodb:Query'], chat: ['dynamodb:PutItem'] },
    manageConnections: ['POST'],
  },
};

const call = (fn: string, action: string, resource: string): AwsCall => ({ fn, action, resource });

describe('the check', () => {
  it('fails on a call outside the grants, naming function, action and resource', () => {
    const calls = [
      call('connect', 'dynamodb:PutItem', 'connections'),
      call('connect', 'dynamodb:GetItem', 'connections'),
      call('connect', 'dynamodb:BatchWriteItem', 'connections'),
    ];
    expect(outsideGrants(calls, BEFORE)).toEqual([
      call('connect', 'dynamodb:BatchWriteItem', 'connections'),
      call('connect', 'dynamodb:GetItem', 'connections'),
    ]);
    expect(() => assertWithinGrants(calls, BEFORE)).toThrow(/2 AWS call\(s\) outside the grants[\s\S]*connect +dynamodb:BatchWriteItem +connections[\s\S]*connect +dynamodb:GetItem +connections/);
    expect(() => assertWithinGrants(calls.slice(0, 1), BEFORE)).not.toThrow();
  });

  it('grants @connections per HTTP method, from the list in permissions.ts', () => {
    const access: Record<string, FunctionAccess> = { chat: { tables: {}, manageConnections: ['POST'] }, authorizer: { tables: {}, manageConnections: [] } };
    expect(isGranted(call('chat', 'execute-api:ManageConnections', 'POST @connections'), access)).toBe(true);
    expect(isGranted(call('chat', 'execute-api:ManageConnections', 'DELETE @connections'), access)).toBe(false);
    expect(isGranted(call('chat', 'execute-api:ManageConnections', 'GET @connections'), access)).toBe(false);
    expect(isGranted(call('authorizer', 'execute-api:ManageConnections', 'POST @connections'), access)).toBe(false);
  });

  it('never grants an unknown table, an unknown function, another service or an unattributed call', () => {
    const chat = (action: string, resource: string) => isGranted(call('chat', action, resource));
    expect(chat('dynamodb:GetItem', 'table:someone-elses-table')).toBe(false);
    expect(chat('dynamodb:Scan', 'chat')).toBe(false);
    expect(chat('s3:GetObject', 'chat')).toBe(false);
    expect(isGranted(call('nobody', 'dynamodb:GetItem', 'chat'))).toBe(false);
    expect(isGranted(call(UNATTRIBUTED, 'dynamodb:GetItem', 'chat'))).toBe(false);
  });

  it('allows an index only where the construct grants index/* (Query or Scan on that table)', () => {
    const access: Record<string, FunctionAccess> = {
      f: { tables: { chat: ['dynamodb:Query'], connections: ['dynamodb:GetItem'] }, manageConnections: [] },
    };
    expect(isGranted(call('f', 'dynamodb:Query', 'chat/index/gsi1'), access)).toBe(true);
    expect(isGranted(call('f', 'dynamodb:GetItem', 'connections/index/x'), access)).toBe(false);
  });

  it('maps requests to the actions IAM evaluates', () => {
    expect(
      dynamoRequirements('TransactWriteItems', {
        TransactItems: [
          { Put: { TableName: 't1' } },
          { Update: { TableName: 't2' } },
          { Delete: { TableName: 't1' } },
          { ConditionCheck: { TableName: 't2' } },
        ],
      }),
    ).toEqual([
      { action: 'dynamodb:PutItem', table: 't1' },
      { action: 'dynamodb:UpdateItem', table: 't2' },
      { action: 'dynamodb:DeleteItem', table: 't1' },
      { action: 'dynamodb:ConditionCheckItem', table: 't2' },
    ]);
    expect(dynamoRequirements('TransactGetItems', { TransactItems: [{ Get: { TableName: 't1' } }] })).toEqual([{ action: 'dynamodb:GetItem', table: 't1' }]);
    expect(dynamoRequirements('BatchWriteItem', { RequestItems: { t1: [], t2: [] } })).toEqual([
      { action: 'dynamodb:BatchWriteItem', table: 't1' },
      { action: 'dynamodb:BatchWriteItem', table: 't2' },
    ]);
    expect(dynamoRequirements('Query', { TableName: 't1', IndexName: 'gsi1' })).toEqual([{ action: 'dynamodb:Query', table: 't1', index: 'gsi1' }]);
    expect(dynamoRequirements('GetItem', { TableName: 't1' })).toEqual([{ action: 'dynamodb:GetItem', table: 't1' }]);
  });

  it('lists grants that no call used', () => {
    const access: Record<string, FunctionAccess> = { f: { tables: { chat: ['dynamodb:GetItem', 'dynamodb:Query'] }, manageConnections: ['POST'] } };
    expect(unusedGrants([call('f', 'dynamodb:Query', 'chat/index/gsi1')], access)).toEqual([
      call('f', 'dynamodb:GetItem', 'chat'),
      call('f', 'execute-api:ManageConnections', 'POST @connections'),
    ]);
  });
});

// ------------------------------------------------------------------ every path, through the real stack

let stack: LocalStack;
let db: DynamoDBDocumentClient;
let closed = false;
const open: TestClient[] = [];

async function client(user: string): Promise<TestClient> {
  const c = await TestClient.connect(stack.websocketUrl, await stack.token(user));
  open.push(c);
  return c;
}

/** The gateway's id for a user's (only) socket. */
function connectionIdOf(user: string): string {
  const ids = stack.gateway.listConnections().filter((c) => c.authorizer.userName === user).map((c) => c.connectionId);
  expect(ids, user).toHaveLength(1);
  return ids[0]!;
}

/** Answers 410 to every @connections call for these ids, counting the calls. */
function gone(...ids: string[]): { hits: () => number } {
  let hits = 0;
  stack.gateway.setManagementFault((id) => (ids.includes(id) ? (hits++, 410) : undefined));
  return { hits: () => hits };
}

const getRow = async (key: { pk: string; sk: string }) =>
  (await db.send(new GetCommand({ TableName: stack.tables.connections, Key: key, ConsistentRead: true }))).Item;
const connectionRow = (id: string) => getRow(keys.connection(id));
const roomRow = (room: string, id: string) => getRow(keys.roomConnection(room, id));

let ghosts = 0;
/**
 * A connection API Gateway no longer knows, so every post to it answers 410:
 * a copy of a live connection's rows under a new id, connected long ago (past
 * the $connect window, so a 410 proves it gone). Copying keeps it in step with
 * whatever the rows hold. `orphan` plants only its room rows, as a lost
 * $disconnect can leave them.
 */
async function plantGhost(like: string, opts: { orphan?: boolean } = {}): Promise<string> {
  const ghost = `R2hvc3Q${++ghosts}Lz0=`;
  const conn = await connectionRow(like);
  if (!conn) throw new Error(`no connection row for ${like}`);
  const put = (item: Record<string, unknown>) => db.send(new PutCommand({ TableName: stack.tables.connections, Item: item }));
  if (!opts.orphan) await put({ ...conn, ...keys.connection(ghost), connectionId: ghost, connectedAt: 0 });
  const rooms = conn.rooms instanceof Set ? [...(conn.rooms as Set<string>)] : ['lobby'];
  for (const room of rooms) {
    const row = await roomRow(room, like);
    if (row) await put({ ...row, ...keys.roomConnection(room, ghost), connectionId: ghost, connectedAt: 0 });
  }
  return ghost;
}

/** Whatever answers an action: a reply, an error, or the socket closing (a lost session ends it). */
async function outcome(c: TestClient, action: Record<string, unknown>): Promise<string> {
  const reqId = `p${Math.random().toString(36).slice(2)}`;
  c.send({ ...action, reqId });
  const reply = c.takeRaw((e) => e.reqId === reqId, 5000).then((e) => (e.type === 'error' ? `error:${e.code}` : e.type));
  return Promise.race([reply, c.closed.then(() => 'closed')]);
}

beforeAll(async () => {
  stack = await testStack();
  db = DynamoDBDocumentClient.from(dynamoClient(stack.dynamoEndpoint));
});
afterAll(async () => {
  if (!closed) await stack?.close();
});

describe('every AWS call the handlers make, on every path', () => {
  it('connects, runs every action and its error branches, fans out to gone sockets, and disconnects', async () => {
    // $connect (and the authorizer behind it), then a refused handshake.
    const alice = await client('perm-alice');
    const bob = await client('perm-bob');
    expect(await TestClient.refusal(`${stack.websocketUrl}?token=not-a-jwt`)).toBe(403);

    // Rooms: create (public), join, send with and without a key, a retry, typing, history, leave.
    expect(await outcome(alice, { action: 'createroom', room: 'perm-pub', name: 'Permissions' })).toBe('joined');
    expect(await outcome(bob, { action: 'joinroom', room: 'perm-pub' })).toBe('joined');
    await alice.next('presence', (p) => p.room === 'perm-pub');
    expect(await outcome(alice, { action: 'sendmessage', room: 'perm-pub', message: 'keyed', clientMsgId: 'perm-1' })).toBe('ack');
    expect(await outcome(alice, { action: 'sendmessage', room: 'perm-pub', message: 'keyed', clientMsgId: 'perm-1' })).toBe('ack');
    expect(await outcome(alice, { action: 'sendmessage', room: 'perm-pub', message: 'no key' })).toBe('ack');
    expect(await outcome(alice, { action: 'sendmessage', message: 'to my current room' })).toBe('ack');
    bob.send({ action: 'typing', room: 'perm-pub' });
    await alice.next('typing');
    expect(await outcome(bob, { action: 'history', room: 'perm-pub', after: 0 })).toBe('history');
    expect(await outcome(bob, { action: 'history', room: 'perm-pub', before: 3, limit: 1 })).toBe('history');
    expect(await outcome(bob, { action: 'leaveroom', room: 'perm-pub' })).toBe('left');
    expect(await outcome(bob, { action: 'ping' })).toBe('pong');

    // Private rooms: the server makes the id; one alone, one with an invitee.
    expect(await outcome(alice, { action: 'createroom', private: true, name: 'Just me' })).toBe('joined');
    expect(['joined', 'error:unknown_user']).toContain(await outcome(alice, { action: 'createroom', private: true, name: 'Us two', invite: ['perm-bob'] }));
    expect(await outcome(alice, { action: 'listrooms' })).toBe('rooms');
    expect(await outcome(bob, { action: 'listrooms' })).toBe('rooms');

    // The error branches: each still reads or writes on the way to its error.
    expect(await outcome(bob, { action: 'createroom', room: 'perm-pub' })).toBe('error:room_exists');
    expect(await outcome(bob, { action: 'joinroom', room: 'no-such-room' })).toBe('error:room_not_found');
    expect(await outcome(bob, { action: 'history', room: 'no-such-room' })).toBe('error:room_not_found');
    expect(await outcome(bob, { action: 'sendmessage', room: 'perm-pub', message: 'not a member' })).toBe('error:not_joined');
    expect(await outcome(bob, { action: 'createroom', private: true, name: 'Ghosts', invite: ['perm-nobody-has-this-name'] })).toBe('error:unknown_user');
    expect(await outcome(bob, { action: 'nosuchaction' })).toBe('error:unknown_action');
    // A flood: refused by the rate limit's conditional writes.
    for (let i = 0; i < 40; i++) bob.send({ action: 'listrooms' });
    await bob.next('error', (e) => e.code === 'rate_limited');
    // Every flood frame's invocation done (and its AWS calls recorded) before the next path starts: a barrier, not a sleep.
    await bob.request('pong', { action: 'ping' });
    await stack.gateway.settled();

    // Fan-out from $connect to a connection API Gateway no longer knows (410): connect prunes it.
    const aliceId = connectionIdOf('perm-alice');
    const ghost1 = await plantGhost(aliceId);
    await client('perm-carol');
    await vi.waitFor(async () => expect(await connectionRow(ghost1)).toBeUndefined());

    // A 410 from a socket still inside its $connect window proves nothing: kept, not pruned.
    const dave = await client('perm-dave');
    const daveGone = gone(connectionIdOf('perm-dave'));
    await client('perm-erin');
    expect(daveGone.hits()).toBeGreaterThan(0);
    stack.gateway.setManagementFault(undefined);

    // Fan-out from chat: a gone connection is pruned, and a room row left without its connection is dropped.
    const ghost2 = await plantGhost(aliceId);
    const orphan = await plantGhost(aliceId, { orphan: true });
    expect(await outcome(alice, { action: 'sendmessage', room: 'lobby', message: 'anyone there?' })).toBe('ack');
    await vi.waitFor(async () => {
      expect(await connectionRow(ghost2)).toBeUndefined();
      expect(await roomRow('lobby', orphan)).toBeUndefined();
    });

    // Fan-out from $disconnect (a clean close, then an abrupt drop): disconnect prunes.
    const ghost3 = await plantGhost(aliceId);
    const frank = await client('perm-frank');
    await frank.close();
    await vi.waitFor(async () => expect(await connectionRow(ghost3)).toBeUndefined());
    const ghost4 = await plantGhost(aliceId);
    expect(stack.gateway.dropConnection(connectionIdOf('perm-dave'))).toBe(true);
    await dave.closed;
    await vi.waitFor(async () => expect(await connectionRow(ghost4)).toBeUndefined());

    // A socket whose token has expired since it connected is closed by the server.
    const heidi = await client('perm-heidi');
    await db.send(
      new UpdateCommand({
        TableName: stack.tables.connections,
        Key: keys.connection(connectionIdOf('perm-heidi')),
        UpdateExpression: 'SET tokenExp = :past',
        ExpressionAttributeValues: { ':past': 1 },
      }),
    );
    expect(['closed', 'error:token_expired', 'rooms']).toContain(await outcome(heidi, { action: 'listrooms' }));

    // A socket whose connection row vanished (a sweep): the session is lost.
    const ivan = await client('perm-ivan');
    await db.send(new DeleteCommand({ TableName: stack.tables.connections, Key: keys.connection(connectionIdOf('perm-ivan')) }));
    expect(['closed', 'error:session_lost', 'rooms']).toContain(await outcome(ivan, { action: 'listrooms' }));

    // The per-user socket cap: a slot held by a connection whose row is gone is freed; past the cap, 429.
    for (let i = 0; i < LIMITS.maxConnectionsPerUser; i++) await client('perm-many');
    const many = stack.gateway.listConnections().filter((c) => c.authorizer.userName === 'perm-many');
    const lost = many[0]!.connectionId;
    await db.send(new DeleteCommand({ TableName: stack.tables.connections, Key: keys.connection(lost) }));
    // As a $disconnect lost long ago would leave it: the slot's stamp is older than the $connect window.
    const userKey = keys.user(String(many[0]!.authorizer.userId));
    const slots = (await db.send(new GetCommand({ TableName: stack.tables.connections, Key: userKey }))).Item?.conns as Set<string>;
    const slot = [...slots].find((s) => s.startsWith(`${lost}@`))!;
    await db.send(new UpdateCommand({ TableName: stack.tables.connections, Key: userKey, UpdateExpression: 'DELETE conns :s', ExpressionAttributeValues: { ':s': new Set([slot]) } }));
    await db.send(new UpdateCommand({ TableName: stack.tables.connections, Key: userKey, UpdateExpression: 'ADD conns :s', ExpressionAttributeValues: { ':s': new Set([`${lost}@1`]) } }));
    await client('perm-many');
    expect(await TestClient.refusal(`${stack.websocketUrl}?token=${encodeURIComponent(await stack.token('perm-many'))}`)).toBe(429);

    // Everyone leaves; close() waits for every $disconnect and late fan-out.
    await Promise.all(open.map((c) => c.close()));
    await stack.close();
    closed = true;
    console.info(`AWS calls by function:\n${describeCalls(stack.iam.calls())}`);
  });

  it('makes no call outside the grants of permissions.ts', () => {
    stack.iam.assertWithinGrants();
  });

  it('would have failed on the grants as they were: connect prunes a gone recipient', () => {
    // Connect's grants could write its own rows and read the lobby, not delete a gone recipient's room rows.
    expect(outsideGrants(stack.iam.calls(), BEFORE)).toContainEqual(call('connect', 'dynamodb:BatchWriteItem', 'connections'));
  });

  it('attributes every call to the function whose handler made it', () => {
    const fns = new Set(stack.iam.calls().map((c) => c.fn));
    expect(fns.has(UNATTRIBUTED)).toBe(false);
    for (const fn of ['connect', 'disconnect', 'chat']) expect(fns, fn).toContain(fn);
  });
});

/**
 * What only several regions do: a room homed in B used from A (every write
 * forwarded to B's home function), B's home fanning out to its own sockets,
 * A's stream fan-out delivering what B wrote, each pruning a gone socket.
 */
describe('every AWS call across two regions', () => {
  let regions: Regions;
  let regionCalls: RecordedCall[] = [];
  const far: TestClient[] = [];

  beforeAll(async () => {
    regions = await twoRegions();
  });
  afterAll(async () => {
    await Promise.all(far.map((c) => c.close().catch(() => undefined)));
    await regions?.close();
  });

  const [A, B] = [0, 1] as const;
  const farClient = async (region: 0 | 1, user: string) => {
    const c = await TestClient.connect(regions.regions[region]!.websocketUrl, await regions.token(user));
    far.push(c);
    return c;
  };
  const regionDb = (region: 0 | 1) => DynamoDBDocumentClient.from(dynamoClient(regions.regions[region]!.dynamoEndpoint));

  /** A gone copy of a user's room row in one region: a post to it answers 410 there, and whoever fans out prunes it. */
  async function ghostIn(region: 0 | 1, room: string, userName: string): Promise<string> {
    const r = regions.regions[region]!;
    const rdb = regionDb(region);
    try {
      const rows = (await rdb.send(new QueryCommand({ TableName: r.tables.connections, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': keys.roomConnection(room, 'x').pk } }))).Items ?? [];
      const row = rows.find((i) => i.userName === userName);
      if (!row) throw new Error(`no row of ${userName} in ${room} in region ${region}`);
      const ghost = `R2hvc3Q${++ghosts}Lz0=`;
      const conn = await rdb.send(new GetCommand({ TableName: r.tables.connections, Key: keys.connection(String(row.connectionId)) }));
      await rdb.send(new PutCommand({ TableName: r.tables.connections, Item: { ...conn.Item, ...keys.connection(ghost), connectionId: ghost, connectedAt: 0 } }));
      await rdb.send(new PutCommand({ TableName: r.tables.connections, Item: { ...row, ...keys.roomConnection(room, ghost), connectionId: ghost, connectedAt: 0 } }));
      return ghost;
    } finally {
      rdb.destroy();
    }
  }
  async function rowIn(region: 0 | 1, key: { pk: string; sk: string }) {
    const rdb = regionDb(region);
    try {
      return (await rdb.send(new GetCommand({ TableName: regions.regions[region]!.tables.connections, Key: key, ConsistentRead: true }))).Item;
    } finally {
      rdb.destroy();
    }
  }

  it("forwards a room's writes to its home, fans out in both regions and prunes gone sockets there", async () => {
    const amy = await farClient(A, 'perm-amy');
    const ben = await farClient(B, 'perm-ben');
    // Homed in B, claimed in the primary.
    expect(await outcome(ben, { action: 'createroom', room: 'perm-far', name: 'Far away' })).toBe('joined');
    await vi.waitFor(async () => expect(await outcome(amy, { action: 'joinroom', room: 'perm-far' })).toBe('joined'), { timeout: 10_000, interval: 100 });
    const ghostB = await ghostIn(B, 'perm-far', 'perm-ben');
    const ghostA = await ghostIn(A, 'perm-far', 'perm-amy');
    expect(await outcome(amy, { action: 'sendmessage', room: 'perm-far', message: 'from afar', clientMsgId: 'far-1' })).toBe('ack');
    await ben.next('message', (m) => m.text === 'from afar');
    await vi.waitFor(async () => expect(await rowIn(B, keys.connection(ghostB))).toBeUndefined(), { timeout: 10_000 });
    // Ben's reply reaches Amy through A's stream fan-out, which prunes A's ghost.
    expect(await outcome(ben, { action: 'sendmessage', room: 'perm-far', message: 'hello back', clientMsgId: 'far-2' })).toBe('ack');
    await amy.next('message', (m) => m.text === 'hello back', 10_000);
    await vi.waitFor(async () => expect(await rowIn(A, keys.connection(ghostA))).toBeUndefined(), { timeout: 10_000 });
    // Edits, deletes, read positions and leaving are the home's too.
    const sent = await amy.request('ack', { action: 'sendmessage', room: 'perm-far', message: 'typo', clientMsgId: 'far-3' });
    if (sent.type !== 'ack') throw new Error(sent.message);
    expect(await outcome(amy, { action: 'editmessage', room: 'perm-far', seq: sent.seq, message: 'fixed' })).toBe('change');
    expect(await outcome(amy, { action: 'deletemessage', room: 'perm-far', seq: sent.seq })).toBe('change');
    expect(await outcome(amy, { action: 'read', room: 'perm-far', seq: sent.seq })).toBe('read');
    expect(await outcome(amy, { action: 'sync' })).toBe('synced');
    expect(await outcome(amy, { action: 'leaveroom', room: 'perm-far' })).toBe('left');
    await regions.replication.settled();
    regionCalls = await regions.calls();
    console.info(`AWS calls by function, two regions:\n${describeCalls(regionCalls)}`);
  }, 60_000);

  it('makes no call outside the grants, in either region', () => {
    assertWithinGrants(regionCalls);
  });

  it('uses every grant on some path of one region or two, so nothing is granted that no code needs', () => {
    const unused = unusedGrants([...stack.iam.calls(), ...regionCalls]);
    expect(unused, `granted in permissions.ts but never called:\n${describeCalls(unused)}`).toEqual([]);
  });
});
