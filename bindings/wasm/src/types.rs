//! The TypeScript types of the values that cross as plain JS objects (the methods
//! take and return them as `JsValue`, named with `unchecked_param_type` and
//! `unchecked_return_type`): without them the generated `.d.ts` would say `any`.
//!
//! Every type that mirrors a Rust type is generated from it (`types.generated.d.ts`,
//! written and checked by the core's test in `src/typescript.rs`, so it cannot
//! drift). Written here are only the types no Rust type declares: JSON itself, and
//! those made from the generated ones.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const WRITTEN: &'static str = r#"
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Client capabilities: the MCP object, or a list of capability names. */
export type Capabilities = JsonObject | string[];

/** Why a session expired: every `EndReason` but `closed` (expired events, sweeps and
 * `SESSION_EXPIRED` never say `closed`). */
export type ExpiryReason = Exclude<EndReason, "closed">;

/** Core configuration as a host gives it: any subset of the fields, the rest defaulted. */
export type CoreConfig = Partial<ResolvedConfig>;

/** The stable code of every failure, e.g. `SESSION_NOT_FOUND`. */
export type SessionErrorCode = SessionErrorDetails["code"];

/** The properties of a `SessionError` object: its code and details, its message,
 * the HTTP and JSON-RPC codes, and what a client is told (`clientAnswer`). */
export type SessionErrorFields = SessionErrorDetails & {
  message: string;
  httpStatus: number;
  jsonRpcCode: number;
  clientAnswer: ClientAnswer;
};

/** The properties of a `SessionError` of code `C`. */
export type SessionErrorFieldsOf<C extends SessionErrorCode> = Extract<SessionErrorFields, { code: C }>;
"#;

#[wasm_bindgen(typescript_custom_section)]
const GENERATED: &'static str = include_str!("types.generated.d.ts");
