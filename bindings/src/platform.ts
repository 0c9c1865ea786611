/**
 * Node 18 has Web Crypto but not as a global; the core draws session IDs from
 * `globalThis.crypto.getRandomValues`. Later Node versions need nothing here.
 */
import { webcrypto } from 'node:crypto';

if (typeof globalThis.crypto === 'undefined') {
  Object.defineProperty(globalThis, 'crypto', { value: webcrypto, configurable: true });
}
