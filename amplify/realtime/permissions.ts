/**
 * What each function does to each table: the single list from which the CDK
 * construct grants least privilege. A handler that starts using a new call
 * must add it here, or it fails with AccessDenied in AWS.
 */
import type { TableShape } from './tables';

export type FunctionName = 'authorizer' | 'connect' | 'disconnect' | 'chat';
type TableActions = Partial<Record<TableShape['id'], string[]>>;

export const FUNCTION_ACCESS: Record<FunctionName, { tables: TableActions; manageConnections: boolean }> = {
  authorizer: { tables: {}, manageConnections: false },
  connect: {
    tables: {
      connections: ['dynamodb:PutItem', 'dynamodb:Query'],
      chat: ['dynamodb:PutItem'],
    },
    manageConnections: true,
  },
  disconnect: {
    tables: {
      connections: ['dynamodb:GetItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'dynamodb:Query'],
    },
    manageConnections: true,
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
        'dynamodb:Query',
      ],
    },
    manageConnections: true,
  },
};
