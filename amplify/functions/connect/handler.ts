import { connect } from '../../core/chat';
import { ProtocolError } from '../../core/protocol';
import { identityFromRequestContext } from '../../core/identity';
import { depsFor, type WebSocketEvent, type WebSocketResult } from '../runtime';

/** $connect: the authorizer already vouched for the caller; a non-2xx here refuses the socket. */
export const handler = async (event: WebSocketEvent): Promise<WebSocketResult> => {
  const { requestContext } = event;
  try {
    const who = identityFromRequestContext(requestContext);
    await connect(depsFor(requestContext), { ...who, connectionId: requestContext.connectionId });
    return { statusCode: 200 };
  } catch (err) {
    // The user's other sockets are the limit; this one is refused before it opens.
    if (err instanceof ProtocolError && err.code === 'too_many_connections') return { statusCode: 429, body: err.message };
    console.error(JSON.stringify({ msg: 'connect failed', connectionId: requestContext.connectionId, error: String(err) }));
    return { statusCode: 500, body: 'Could not connect' };
  }
};
