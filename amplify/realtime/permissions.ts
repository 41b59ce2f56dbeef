/**
 * What each function does to each table and to @connections: the single list
 * from which the CDK construct grants least privilege, and against which the
 * tests check every AWS call the handlers really make (local/iam.ts,
 * test/permissions.test.ts). A handler that starts using a new call must add
 * it here, or it fails with AccessDenied in AWS (and the tests say so first).
 */
import type { TableShape } from './tables';

export type FunctionName = 'authorizer' | 'connect' | 'disconnect' | 'chat' | 'home' | 'fanout';
export type TableId = TableShape['id'];
type TableActions = Partial<Record<TableId, readonly string[]>>;

/**
 * @connections methods, each granted as
 * execute-api:ManageConnections on <api>/<stage>/<METHOD>/@connections/*:
 * POST sends a frame, DELETE closes a socket, GET reads a socket's details.
 */
export const CONNECTIONS_METHODS = ['POST', 'GET', 'DELETE'] as const;
export type ConnectionsMethod = (typeof CONNECTIONS_METHODS)[number];

export interface FunctionAccess {
  tables: TableActions;
  /** The @connections methods the function may call; empty for none. */
  manageConnections: readonly ConnectionsMethod[];
}

export const FUNCTION_ACCESS: Record<FunctionName, FunctionAccess> = {
  // Verifies the token, then checks the chat name it carries is the one claimed at sign-up.
  authorizer: { tables: { users: ['dynamodb:GetItem'] }, manageConnections: [] },
  connect: {
    tables: {
      connections: [
        // Connection + lobby row (Put) and the user's slot (Update), in one transaction; the lobby read for presence.
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:Query',
        // At the per-user cap: read the user's slots and their rows to free the dead ones.
        'dynamodb:GetItem',
        'dynamodb:BatchGetItem',
        // Presence fan-out prunes a recipient API Gateway reports gone (410): its row, room rows, slot.
        'dynamodb:DeleteItem',
        'dynamodb:BatchWriteItem',
      ],
      // The lobby, created on first use; its membership version, bumped once the connection is seated.
      // Outside the lobby's home region: its lastSeq, read from the replica instead (the home bumps the version).
      chat: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:GetItem'],
    },
    manageConnections: ['POST'],
  },
  disconnect: {
    tables: {
      // Delete the row (returning it), its room rows and its slot; then tell each room, pruning as connect does.
      connections: ['dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
    },
    manageConnections: ['POST'],
  },
  chat: {
    tables: {
      connections: [
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:BatchWriteItem',
        'dynamodb:Query',
      ],
      chat: [
        'dynamodb:GetItem',
        'dynamodb:BatchGetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        // leaveroom: the member row goes (with the count, in one transaction).
        'dynamodb:DeleteItem',
        'dynamodb:Query',
      ],
      // Invitations and DMs name users: resolved through the name registry.
      users: ['dynamodb:BatchGetItem'],
    },
    // POST: replies and fan-out. DELETE: closes a socket whose token expired or whose session was lost.
    manageConnections: ['POST', 'DELETE'],
  },
  // A room's home, asked by another region's chat function (core/home.ts): the room's writes, and delivery to this region.
  home: {
    tables: {
      connections: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
      // Reads (unread counts, history) stay in the caller's region: the home only writes, and reads what it guards.
      chat: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
    },
    manageConnections: ['POST'],
  },
  // Messages other regions wrote, from this region's stream to its sockets (core/replica.ts).
  fanout: {
    tables: {
      connections: ['dynamodb:Query', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
    },
    manageConnections: ['POST'],
  },
};

/**
 * Functions that forward a room's writes to its home in another region
 * (core/home.ts atHome): granted lambda:InvokeFunction on exactly the other
 * regions' home functions, and nothing else. Local mode's IAM recorder
 * accepts that action from these functions only.
 */
export const INVOKES_OTHER_HOMES = ['chat'] as const satisfies readonly FunctionName[];

/**
 * Functions that read a room's home (core/regions.ts homeOf), and the
 * authorizer, which outside the primary waits for a new name's claim to
 * replicate: they need PARLEY_PRIMARY_REGION and PARLEY_REGIONS to tell a
 * multi-region deployment from a single one, even those that never invoke
 * another region.
 */
export const REGION_AWARE = ['authorizer', 'connect', 'disconnect', 'chat', 'home', 'fanout'] as const satisfies readonly FunctionName[];

/** Functions no WebSocket event invokes: they post at this region's stage callback URL (PARLEY_CALLBACK_URL). */
export const USES_CALLBACK_URL = ['home', 'fanout'] as const satisfies readonly FunctionName[];

/**
 * What Lambda's poller needs, with the fanout function's role, to read this
 * region's chat-table stream. Not dynamodb:ListStreams: it takes no resource
 * but `*`, and an event source mapping names its stream ARN.
 */
export const STREAM_READ_ACTIONS = ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'] as const;
export const READS_CHAT_STREAM: FunctionName = 'fanout';
