'use strict';
/*
 * Node helpers for vecguard, the SQLite extension for vector search.
 *
 *   const Database = require('better-sqlite3');
 *   const vecguard = require('vecguard');
 *
 *   const db = new Database('app.db');
 *   vecguard.load(db);
 *   db.prepare('SELECT vg_distance(?, ?)').pluck()
 *     .get(vecguard.serializeFloat32([0, 0]), vecguard.serializeFloat32([3, 4]));
 *
 * See docs/node.md in the vecguard repository.
 */

const fs = require('node:fs');
const path = require('node:path');
const util = require('node:util');

const version = '0.1.0';
const FILE = 'vecguard.so';

function isFile(p) {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * The path of the vecguard extension, for loadExtension: the first of
 *   1. the environment variable VG_EXTENSION, if set and not empty, as given;
 *   2. vecguard.so in this package's directory (a package that ships it);
 *   3. <repo>/build/vecguard.so (after make) when this package is used from a
 *      vecguard source tree, as <repo>/bindings/node;
 *   4. the bare name "vecguard", which SQLite's loader looks for as
 *      vecguard.so in LD_LIBRARY_PATH, /lib and /usr/lib (not /usr/local/lib:
 *      the loader's cache lists only lib*.so).
 * Opens nothing and throws nothing: a wrong path shows when loading.
 */
function loadablePath() {
  const env = process.env.VG_EXTENSION;
  if (env) return env;
  const beside = path.join(__dirname, FILE);
  if (isFile(beside)) return beside;
  const repo = path.resolve(__dirname, '..', '..');
  const built = path.join(repo, 'build', FILE);
  // Only in a vecguard checkout: an installed package's grandparents are
  // someone else's directories.
  if (isFile(path.join(repo, 'ext', 'vecguard.c')) && isFile(built)) return built;
  return 'vecguard';
}

function loadFailed(file, e) {
  const err = new Error(
    `vecguard.load: cannot load '${file}': ${e && e.message ? e.message : e}; ` +
      'set VG_EXTENSION to the path of vecguard.so (see vecguard.loadablePath())',
    { cause: e });
  if (e && e.code !== undefined) err.code = e.code;
  return err;
}

/**
 * Load the extension, found by loadablePath(), into db: a better-sqlite3
 * Database, or a node:sqlite DatabaseSync opened with allowExtension: true
 * (Node 22.13 and later). A DatabaseSync gets extension loading enabled for
 * this call only, and disabled again when it returns or throws, so that SQL
 * run on db later cannot load libraries with load_extension().
 * Throws a TypeError for any other object, and an Error naming the path
 * tried when loading fails.
 */
function load(db) {
  const kind = driverOf(db);
  const file = loadablePath();
  if (kind === 'better-sqlite3') {
    // better-sqlite3 enables loading for its C API only, never for SQL.
    try {
      db.loadExtension(file);
    } catch (e) {
      throw loadFailed(file, e);
    }
    return;
  }
  try {
    db.enableLoadExtension(true);
  } catch (e) {
    throw new Error(
      `vecguard.load: cannot enable extension loading: ${e.message} (a DatabaseSync ` +
        'loads extensions only when opened with new DatabaseSync(file, { allowExtension: true }))',
      { cause: e });
  }
  try {
    db.loadExtension(file);
  } catch (e) {
    throw loadFailed(file, e);
  } finally {
    db.enableLoadExtension(false);
  }
}

function driverOf(db) {
  const accepted =
    'a better-sqlite3 Database or a node:sqlite DatabaseSync opened with ' +
    '{ allowExtension: true }';
  if (db === null || typeof db !== 'object') {
    throw new TypeError(`vecguard.load: expected ${accepted}; got ${describe(db)}`);
  }
  if (typeof db.loadExtension === 'function') {
    if (typeof db.enableLoadExtension === 'function') return 'node:sqlite';
    // The asynchronous sqlite3 package has loadExtension(path, callback) too:
    // its failure would come later, as an 'error' event.
    if (typeof db.run === 'function' && typeof db.all === 'function') {
      throw new TypeError(
        'vecguard.load: this looks like a Database of the asynchronous sqlite3 package, ' +
          `which loads in the background: call db.loadExtension(vecguard.loadablePath(), callback) ` +
          `yourself, or pass ${accepted}`);
    }
    return 'better-sqlite3';
  }
  if (db.constructor && db.constructor.name === 'DatabaseSync') {
    throw new TypeError(
      `vecguard.load: node:sqlite cannot load extensions in Node ${process.version} ` +
        '(it can from Node 22.13): use better-sqlite3, or a newer Node');
  }
  throw new TypeError(`vecguard.load: expected ${accepted}; got ${describe(db)}`);
}

/**
 * vector as a float32 BLOB: a Buffer of 4 bytes per element, little-endian,
 * the form vecguard takes wherever it takes a vector (and sqlite-vec stores).
 * vector is one vector: an Array (or other iterable) of numbers, or a typed
 * array (Float32Array, Float64Array, the integer arrays). Each element is
 * rounded to float32, so a Float64Array gives the same bytes as the same
 * Float32Array (its raw 8-byte values would read as twice the dimensions).
 * Throws a TypeError for what is not a vector of numbers, and a RangeError
 * for an empty vector, NaN or Infinity, or an element outside float32's range.
 */
function serializeFloat32(vector) {
  const items = elementsOf(vector);
  if (items.length === 0) {
    throw new RangeError('serializeFloat32: empty vector: a vector needs at least one element');
  }
  const out = Buffer.alloc(4 * items.length);
  for (let i = 0; i < items.length; i++) {
    let x = items[i];
    if (typeof x === 'bigint') x = Number(x);
    // A boolean is never a coordinate: a mask sent by mistake should not
    // become a vector of ones and zeros, as Number(true) would make it.
    if (typeof x !== 'number') {
      throw new TypeError(
        `serializeFloat32: element ${i} is ${describe(items[i])}, not a number: send number ` +
          'elements (one vector; serialize several one by one)');
    }
    if (!Number.isFinite(x)) {
      throw new RangeError(
        `serializeFloat32: element ${i} is ${x}: vecguard takes finite numbers only`);
    }
    if (!Number.isFinite(Math.fround(x))) {
      throw new RangeError(
        `serializeFloat32: element ${i} (${x}) is outside the float32 range ` +
          '(magnitude up to about 3.4e38)');
    }
    out.writeFloatLE(x, 4 * i);
  }
  return out;
}

function elementsOf(vector) {
  if (Array.isArray(vector)) return vector;
  if (typeof vector === 'string') {
    throw new TypeError(
      "serializeFloat32: got a string; pass JSON text such as '[1, 2]' to SQL as it is, " +
        'or send an Array or typed array of numbers');
  }
  // A Buffer is most likely a BLOB already, not a vector of bytes.
  if (Buffer.isBuffer(vector)) {
    throw new TypeError(
      'serializeFloat32: got a Buffer; a float32 BLOB goes to SQL as it is: ' +
        'send an Array or typed array of numbers to make one');
  }
  if (util.types.isTypedArray(vector)) return vector;
  if (util.types.isAnyArrayBuffer(vector) || util.types.isDataView(vector)) {
    throw new TypeError(
      `serializeFloat32: got ${describe(vector)}, raw bytes: view them as the typed array ` +
        'they hold, e.g. new Float32Array(buffer), and send that');
  }
  if (vector !== null && vector !== undefined && typeof vector[Symbol.iterator] === 'function') {
    return Array.from(vector);
  }
  throw new TypeError(
    'serializeFloat32: expected one vector (an Array or typed array of numbers); ' +
      `got ${describe(vector)}`);
}

function describe(x) {
  if (x === null || x === undefined) return String(x);
  let text = util.inspect(x, { breakLength: Infinity, maxArrayLength: 8, depth: 1 });
  if (text.length > 40) text = text.slice(0, 37) + '...';
  let type = typeof x;
  if (type === 'object' || type === 'function') {
    type = (x.constructor && x.constructor.name) || 'Object';
  }
  return `${/^[aeiou]/i.test(type) ? 'an' : 'a'} ${type} (${text})`;
}

module.exports = { load, loadablePath, serializeFloat32, version };
