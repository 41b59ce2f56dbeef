/// <reference types="vite/client" />

declare module 'virtual:parley-outputs' {
  /** The outputs file vite.config.ts picked: PARLEY_OUTPUTS, amplify_outputs.json or the fixture. */
  const outputs: unknown;
  export default outputs;
}
