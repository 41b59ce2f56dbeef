/** The secondary stack's output names, apart from stack.ts so the deploy script reads them without loading aws-cdk-lib. */
export const WEBSOCKET_URL_OUTPUT = 'WebSocketUrl';
