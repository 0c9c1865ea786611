// ESM entry of the `mcp-session-core/v2` subpath: re-exports the CommonJS build.
import cjs from '../src/v2/index.js';

export const { DualEraHandler, registerHandleTools, toolFailure } = cjs;
export default cjs;
