import type { Context } from 'aws-lambda';
import { connect } from '../../core/chat';
import { ProtocolError } from '../../core/protocol';
import { identityFromRequestContext } from '../../core/identity';
import { functionLog } from '../log';
import { depsFor, type WebSocketEvent, type WebSocketResult } from '../runtime';

const logs = functionLog('connect');

/** $connect: the authorizer already vouched for the caller; a non-2xx here refuses the socket. */
export const handler = async (event: WebSocketEvent, context?: Context): Promise<WebSocketResult> => {
  const { requestContext } = event;
  const log = logs.invocation(requestContext, context);
  try {
    const who = identityFromRequestContext(requestContext);
    await connect(depsFor(requestContext, log), { ...who, connectionId: requestContext.connectionId });
    log.info('connected', { userId: who.userId });
    return { statusCode: 200 };
  } catch (err) {
    // The user's other sockets are the limit; this one is refused before it opens.
    if (err instanceof ProtocolError && err.code === 'too_many_connections') {
      log.info('connection refused', { code: err.code });
      return { statusCode: 429, body: err.message };
    }
    log.error('connect failed', {}, err);
    return { statusCode: 500, body: 'Could not connect' };
  }
};
