import { connect } from '../../core/chat';
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
    console.error(JSON.stringify({ msg: 'connect failed', connectionId: requestContext.connectionId, error: String(err) }));
    return { statusCode: 500, body: 'Could not connect' };
  }
};
