/** A database vecguard.load() takes: a better-sqlite3 Database, or a
 *  node:sqlite DatabaseSync opened with { allowExtension: true }. */
export interface LoadableDatabase {
  loadExtension(path: string): unknown;
  enableLoadExtension?(allow: boolean): void;
}

/** One vector: an Array or other iterable of numbers, or a typed array. */
export type Vector =
  | Iterable<number | bigint>
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint8ClampedArray
  | Uint16Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** Load the extension found by loadablePath() into db. */
export function load(db: LoadableDatabase): void;

/** VG_EXTENSION, vecguard.so beside the package, the checkout's
 *  build/vecguard.so, or the bare name "vecguard". */
export function loadablePath(): string;

/** The vector as a float32 BLOB: 4 bytes per element, little-endian. */
export function serializeFloat32(vector: Vector): Buffer;

/** "0.1.0", the version vg_version() reports. */
export const version: string;
