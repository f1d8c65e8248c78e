// Types for the `privet` package. The JSON shapes mirror privet-core (see crates/privet-wasm/ABI.md).

/** A Cedar entity uid: `{type, id}` or the string form `'Type::"id"'`. */
export type EntityUid = { type: string; id: string } | string;

/** A Cedar entity in Cedar's entity JSON format. */
export interface Entity {
  uid: EntityUid | { __entity: { type: string; id: string } };
  attrs?: Record<string, unknown>;
  parents?: Array<EntityUid | { __entity: { type: string; id: string } }>;
  tags?: Record<string, unknown>;
}

/** One decision request. */
export interface Request {
  /** Echoed in the decision. */
  id?: string | number | null;
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  context?: Record<string, unknown>;
  /** Entities for this request only (merged over the bundle's store). */
  entities?: Entity[];
  [extra: string]: unknown;
}

/** A machine-readable error code (privet-core's `ErrorCode`). New codes may appear in minor versions. */
export type ErrorCode =
  | 'malformed_json'
  | 'invalid_request'
  | 'invalid_entity_uid'
  | 'unknown_entity_type'
  | 'unknown_action'
  | 'invalid_context'
  | 'invalid_entity'
  | 'entity_not_found'
  | 'policy_evaluation'
  | 'limit_exceeded'
  | 'invalid_policy'
  | 'invalid_schema'
  | 'validation_failed'
  | 'invalid_manifest'
  | 'io'
  | 'hash_mismatch'
  | 'invalid_bundle'
  | 'no_bundle'
  | 'host_failure'
  | (string & {});

/** A structured error: what was wrong and where. */
export interface DecisionErrorJson {
  code: ErrorCode;
  message: string;
  /** Field path into the input, e.g. `context.purpose`, `entities[3]`. */
  path?: string;
  policy?: string;
  line?: number;
  column?: number;
  offset?: number;
}

export interface Obligation {
  kind: string;
  policy: string;
  params?: Record<string, string>;
}

export interface PolicyInfo {
  id: string;
  effect: 'permit' | 'forbid';
  file: string;
  line: number;
  citation?: string;
  reason?: string;
  obligation?: Obligation;
  annotations?: Record<string, string>;
}

/** The answer to one request. Any error means deny (fail closed). */
export interface Decision {
  id?: unknown;
  decision: 'allow' | 'deny';
  /** Ids of the determining policies. */
  reasons: string[];
  determining: PolicyInfo[];
  obligations: Obligation[];
  errors: DecisionErrorJson[];
  /** Content hash of the bundle that decided (`''` when none could). */
  bundle: string;
}

export interface StoreUpdate {
  revision: number;
  upserted: number;
  removed: number;
  entities: number;
}

export interface BundleInfo {
  name: string;
  version?: string;
  description?: string;
  hash: string;
  semantics: 'fail-closed' | 'cedar';
  policies: string[];
  entities: number;
  store_revision: number;
  limits: Record<string, number>;
}

/** Where the wasm module comes from. */
export type WasmSource = string | URL | Uint8Array | ArrayBuffer | Response | WebAssembly.Module;

export interface LoadOptions {
  /** Default: the `privet.wasm` shipped beside this package's index.js. */
  wasm?: WasmSource;
}

/** An error from Privet (bundle load failure, rejected store update, trapped instance). */
export class PrivetError extends Error {
  readonly name: 'PrivetError';
  readonly code: ErrorCode;
  readonly path?: string;
  readonly policy?: string;
  readonly line?: number;
  readonly column?: number;
  readonly offset?: number;
  /** Every underlying error (e.g. one per bundle diagnostic). */
  readonly errors: DecisionErrorJson[];
}

/** Compiles (and for the default source, caches) the Privet wasm module. */
export function compile(source?: WasmSource): Promise<WebAssembly.Module>;

/** A loaded bundle. */
export class Privet {
  private constructor();
  /** Loads a packed bundle (bytes or JSON text, the output of `privet pack`). Throws PrivetError. */
  static load(bundle: Uint8Array | ArrayBuffer | string, options?: LoadOptions): Promise<Privet>;
  /** Decides one request; never throws for a bad request (deny with `errors`). Each decision is made of fresh
   * objects (none is shared with another decision). */
  decide(request: Request | string): Decision;
  /** Decides many requests; decisions in the same order. */
  decideBatch(requests: Request[] | string): Decision[];
  /** Inserts or replaces entities; all or nothing. Throws PrivetError with `errors`. */
  upsertEntities(entities: Entity[] | string): StoreUpdate;
  /** Removes entities by uid; unknown uids are ignored. */
  removeEntities(uids: EntityUid[] | string): StoreUpdate;
  info(): BundleInfo;
  /** Releases the wasm instance. */
  close(): void;
  /** Content hash of the loaded bundle. */
  readonly hash: string;
  /** Times the wasm instance was replaced after a trap. */
  readonly restarts: number;
}

export default Privet;
