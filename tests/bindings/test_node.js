#!/usr/bin/env node
/*
 * Tests of the Node package in bindings/node and of docs/node.md.
 *
 *   VG_EXTENSION=$PWD/build/vecguard.so node tests/bindings/test_node.js
 *
 * VG_EXTENSION defaults to build/vecguard.so of this checkout, VG_DOCS (where
 * node.md is) to its docs/. better-sqlite3 comes from VG_NODE_DEPS/node_modules
 * (default: build/node_modules), where tests/bindings/node_deps.sh, run first,
 * installs it from the npm registry when it is missing (a minute, once). The
 * node:sqlite path runs where this Node has it (22.13 and later). One test:
 * node --test-name-pattern=float64 tests/bindings/test_node.js. Node 18 or
 * later, and npm for the first run.
 */
'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');
const childProcess = require('node:child_process');
const { Console } = require('node:console');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Writable } = require('node:stream');
const vm = require('node:vm');

const REPO = path.resolve(__dirname, '..', '..');
const PACKAGE_DIR = path.join(REPO, 'bindings', 'node');
const PACKAGE_SRC = path.join(PACKAGE_DIR, 'index.js');
const EXTENSION = path.resolve(process.env.VG_EXTENSION || path.join(REPO, 'build', 'vecguard.so'));
const DOCS = process.env.VG_DOCS || path.join(REPO, 'docs');
const DEPS = path.resolve(process.env.VG_NODE_DEPS || path.join(REPO, 'build'));
process.env.VG_EXTENSION = EXTENSION;

const vecguard = require(PACKAGE_DIR);
const { serializeFloat32 } = vecguard;

function fail(message) {
  console.log(`test_node.js: ${message}`);
  process.exit(1);
}

if (!fs.existsSync(EXTENSION)) fail(`no extension at ${EXTENSION}: run make, or set VG_EXTENSION`);
const deps = childProcess.spawnSync(path.join(__dirname, 'node_deps.sh'), [DEPS], {
  stdio: ['ignore', 'pipe', 'inherit'],
  encoding: 'utf8',
});
if (deps.status !== 0) {
  fail(`better-sqlite3, which these tests need, could not be installed into ${DEPS}/node_modules ` +
    'by tests/bindings/node_deps.sh (its messages are above)');
}
const MODULES = deps.stdout.trim();
const Database = require(path.join(MODULES, 'better-sqlite3'));

let sqlite = null; // node:sqlite, where this Node has it with extension loading
try {
  sqlite = require('node:sqlite');
  if (typeof sqlite.DatabaseSync.prototype.loadExtension !== 'function') sqlite = null;
} catch {
  sqlite = null;
}

// Math.fround of the largest float32.
const FLT_MAX = 3.4028234663852886e38;

function connect() {
  const db = new Database(':memory:');
  vecguard.load(db);
  return db;
}

/** The reference: DataView's little-endian float32, element by element. */
function pack(values) {
  const view = new DataView(new ArrayBuffer(4 * values.length));
  values.forEach((x, i) => view.setFloat32(4 * i, Number(x), true));
  return Buffer.from(view.buffer);
}

/** The distances of docs/vectors.md, in double precision on the float32 values. */
function refDistance(a, b, metric) {
  a = a.map(Math.fround);
  b = b.map(Math.fround);
  let dot = 0, aa = 0, bb = 0, d2 = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
    d2 += (a[i] - b[i]) ** 2;
  }
  if (metric === 'l2') return Math.sqrt(d2);
  if (metric === 'cosine') return 1 - dot / Math.sqrt(aa * bb);
  if (metric === 'ip') return -dot;
  throw new Error(metric);
}

// vecguard computes in float32; a wrong metric or vector is off by far more.
function assertClose(got, want, what) {
  assert.ok(Math.abs(got - want) <= 1e-4 * Math.max(1, Math.abs(want)), `${what}: ${got} vs ${want}`);
}

/** Seeded numbers, so that a failure comes back on the next run. */
function rng(seed) {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, gauss, vector: (n) => Array.from({ length: n }, gauss) };
}

function withEnv(value, fn) {
  const saved = process.env.VG_EXTENSION;
  if (value === undefined) delete process.env.VG_EXTENSION;
  else process.env.VG_EXTENSION = value;
  try {
    return fn();
  } finally {
    process.env.VG_EXTENSION = saved;
  }
}

test('serializeFloat32 gives DataView\'s bytes for every kind of input', () => {
  const r = rng(7);
  const vectors = [
    [1, -2.5],
    [0.1, -0.2, 3, 1e16, -1e-30, 0, -0, 123456789],
    [FLT_MAX, -FLT_MAX, 1e-45],
    r.vector(384),
  ];
  for (const v of vectors) {
    const want = pack(v);
    assert.equal(want.length, 4 * v.length);
    const kinds = {
      Array: v,
      Float32Array: Float32Array.from(v),
      Float64Array: Float64Array.from(v),
      Set: new Set(v),
      generator: (function* () { yield* v; })(),
    };
    for (const [kind, x] of Object.entries(kinds)) {
      if (kind === 'Set' && new Set(v).size !== v.length) continue;
      assert.deepEqual(serializeFloat32(x), want, `${kind}, ${v.length} elements`);
    }
  }
  assert.deepEqual(serializeFloat32(new Int32Array([7, -3, 2 ** 31 - 1])), pack([7, -3, 2 ** 31 - 1]));
  assert.deepEqual(serializeFloat32(new Int8Array([-128, 5])), pack([-128, 5]));
  assert.deepEqual(serializeFloat32(new Uint8Array([255, 0])), pack([255, 0]));
  assert.deepEqual(serializeFloat32(new Uint16Array([65535])), pack([65535]));
  assert.deepEqual(serializeFloat32(new BigInt64Array([-5n, 1n << 40n])), pack([-5, 2 ** 40]));
  assert.deepEqual(serializeFloat32([1n, 2]), pack([1, 2]));
  // a view into a larger buffer: its own elements only
  const big = new Float64Array([9, 1.5, -2, 9]);
  assert.deepEqual(serializeFloat32(big.subarray(1, 3)), pack([1.5, -2]));
});

test('serializeFloat32 writes little-endian float32, into a Buffer', () => {
  const blob = serializeFloat32([1, -2.5]);
  assert.ok(Buffer.isBuffer(blob));
  assert.equal(blob.toString('hex'), '0000803f000020c0');
  assert.equal(serializeFloat32([-0]).toString('hex'), '00000080');
  // just above FLT_MAX, but nearer to it than to the next power of two: FLT_MAX
  assert.deepEqual(serializeFloat32([FLT_MAX * (1 + 2 ** -26)]), pack([FLT_MAX]));
});

test('Float64Array gives the same bytes as Float32Array, not its raw memory', () => {
  const r = rng(5);
  for (const n of [1, 7, 384]) {
    const v64 = Float64Array.from(r.vector(n));
    const v32 = Float32Array.from(v64);
    assert.equal(serializeFloat32(v64).length, 4 * n);
    assert.deepEqual(serializeFloat32(v64), serializeFloat32(v32));
    assert.deepEqual(serializeFloat32(v64), Buffer.from(v32.buffer)); // x86 and arm are little-endian
  }
});

test('the extension reads the vector serializeFloat32 wrote', () => {
  const db = connect();
  const r = rng(11);
  for (const n of [1, 3, 384, 1536]) {
    const v = Array.from({ length: n }, () => Math.round((r.uniform() * 10 - 5) * 1e6) / 1e6);
    const blob = serializeFloat32(v);
    // the extension's own JSON reader is the independent reference
    assert.deepEqual(db.prepare('SELECT vg_vector(?)').pluck().get(JSON.stringify(v)), blob);
    assert.equal(db.prepare('SELECT vg_dims(?)').pluck().get(blob), n);
  }
  assert.equal(db.prepare('SELECT vg_vector_json(?)').pluck().get(serializeFloat32([1, -2.5, 0.1])),
    '[1,-2.5,0.1]');
  db.close();
});

test('the float64 trap, against the extension', () => {
  const db = connect();
  const v = new Float64Array([0.9, 0.1, 0, 0]);
  const dims = db.prepare('SELECT vg_dims(?)').pluck();
  assert.equal(dims.get(Buffer.from(v.buffer)), 8);
  assert.equal(dims.get(v), 8); // better-sqlite3 binds a typed array's memory
  assert.equal(dims.get(serializeFloat32(v)), 4);
  db.exec('CREATE VIRTUAL TABLE t USING vg_hnsw(embedding float[4])');
  const insert = db.prepare('INSERT INTO t(embedding) VALUES (?)');
  assert.throws(() => insert.run(v), /looks like float64: send float32/);
  insert.run(serializeFloat32(v));
  assert.equal(db.prepare('SELECT vg_vector_json(embedding) FROM t').pluck().get(), '[0.9,0.1,0,0]');
  db.close();
});

test('serializeFloat32 says what is wrong', () => {
  const cases = [
    [[1, NaN], RangeError, 'element 1 is NaN: vecguard takes finite numbers only'],
    [[Infinity], RangeError, 'element 0 is Infinity'],
    [[0, 0, -Infinity], RangeError, 'element 2 is -Infinity'],
    [new Float32Array([1, NaN]), RangeError, 'element 1 is NaN'],
    [new Float64Array([0, -1e39]), RangeError, 'element 1 (-1e+39) is outside the float32 range'],
    [[1, 3.5e38], RangeError, 'element 1 (3.5e+38) is outside the float32 range (magnitude up to about 3.4e38)'],
    [[10n ** 40n], RangeError, 'element 0 (1e+40) is outside the float32 range'],
    [[], RangeError, 'empty vector: a vector needs at least one element'],
    [new Float32Array(0), RangeError, 'empty vector'],
    [new Set(), RangeError, 'empty vector'],
    [[[1, 2], [3, 4]], TypeError, 'element 0 is an Array ([ 1, 2 ]), not a number: send number elements (one vector; serialize several one by one)'],
    [[new Float32Array([1, 2])], TypeError, 'element 0 is a Float32Array'],
    [[1, '2'], TypeError, "element 1 is a string ('2'), not a number"],
    [[1, null], TypeError, 'element 1 is null, not a number'],
    [[1, , 3], TypeError, 'element 1 is undefined, not a number'], // eslint-disable-line no-sparse-arrays
    [[true, false], TypeError, 'element 0 is a boolean (true), not a number'],
    [[1, { x: 1 }], TypeError, 'element 1 is an Object ({ x: 1 })'],
    [[new Number(1)], TypeError, 'element 0 is a Number'], // eslint-disable-line no-new-wrappers
    [1.5, TypeError, 'expected one vector (an Array or typed array of numbers); got a number (1.5)'],
    [null, TypeError, 'got null'],
    [undefined, TypeError, 'got undefined'],
    [{ 0: 1, length: 1 }, TypeError, 'got an Object'],
    ['[1, 2]', TypeError, "got a string; pass JSON text such as '[1, 2]' to SQL as it is"],
    [Buffer.from([0, 0, 0x80, 0x3f]), TypeError, 'got a Buffer; a float32 BLOB goes to SQL as it is'],
    [new ArrayBuffer(8), TypeError, 'new Float32Array(buffer)'],
    [new DataView(new ArrayBuffer(8)), TypeError, 'got a DataView'],
  ];
  for (const [value, errorClass, message] of cases) {
    let error = null;
    try {
      serializeFloat32(value);
    } catch (e) {
      error = e;
    }
    assert.ok(error, `no error for ${String(value)}`);
    assert.ok(error instanceof errorClass, `${error.name} for ${String(value)}: ${error.message}`);
    assert.ok(error.message.startsWith('serializeFloat32: '), error.message);
    assert.ok(error.message.includes(message), `${JSON.stringify(message)} not in ${JSON.stringify(error.message)}`);
  }
});

test('long values are cut in messages', () => {
  assert.throws(() => serializeFloat32([1, 'x'.repeat(1000)]), (e) => e.message.length < 200);
  assert.throws(() => serializeFloat32([Array(1000).fill(1)]), (e) => e.message.length < 200);
});

function assertLoadingIsOff(db) {
  assert.throws(() => db.prepare('SELECT load_extension(?)').get(EXTENSION), /not authorized/);
}

test('load: the version of the extension and of the package', () => {
  const db = connect();
  const version = db.prepare('SELECT vg_version()').pluck().get();
  assert.ok(version.startsWith(`vecguard ${vecguard.version} (`), version);
  const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_DIR, 'package.json'), 'utf8'));
  assert.equal(pkg.version, vecguard.version);
  assert.equal(pkg.main, 'index.js');
  assert.deepEqual(Object.keys(pkg.dependencies || {}), []);
  assertLoadingIsOff(db);
  db.close();
});

test('load: a failure names the path tried and VG_EXTENSION', () => {
  const missing = path.join(os.tmpdir(), 'no-such-dir-vg', 'vecguard.so');
  const db = new Database(':memory:');
  const error = withEnv(missing, () => {
    try {
      vecguard.load(db);
    } catch (e) {
      return e;
    }
    return null;
  });
  assert.ok(error instanceof Error);
  assert.ok(error.message.startsWith(`vecguard.load: cannot load '${missing}': `), error.message);
  assert.ok(error.message.includes('set VG_EXTENSION'), error.message);
  assert.ok(error.cause instanceof Error);
  assert.equal(error.code, error.cause.code);
  assert.throws(() => db.prepare('SELECT vg_version()').get(), /no such function/);
  assertLoadingIsOff(db);
  db.close();
});

test('load: DatabaseSync-like objects get loading on for the call only', () => {
  const calls = [];
  class DatabaseSync {
    constructor(failWith) {
      this.failWith = failWith;
    }
    enableLoadExtension(on) {
      calls.push(['enable', on]);
    }
    loadExtension(file) {
      calls.push(['load', file]);
      if (this.failWith) throw this.failWith;
    }
  }
  vecguard.load(new DatabaseSync(null));
  assert.deepEqual(calls, [['enable', true], ['load', EXTENSION], ['enable', false]]);
  calls.length = 0;
  const cause = new Error('boom');
  assert.throws(() => vecguard.load(new DatabaseSync(cause)), (e) =>
    e.message.startsWith(`vecguard.load: cannot load '${EXTENSION}': boom;`) && e.cause === cause);
  assert.deepEqual(calls, [['enable', true], ['load', EXTENSION], ['enable', false]]);

  // opened without allowExtension: node:sqlite refuses to enable loading
  const closed = {
    enableLoadExtension() {
      throw new Error('Cannot enable extension loading because it was disabled at database creation.');
    },
    loadExtension() {
      throw new Error('not reached');
    },
  };
  assert.throws(() => vecguard.load(closed),
    /cannot enable extension loading: Cannot enable .* \{ allowExtension: true \}/);
});

test('load: anything else is a TypeError saying what is taken', () => {
  const accepted = 'expected a better-sqlite3 Database or a node:sqlite DatabaseSync';
  for (const [value, got] of [[null, 'got null'], [undefined, 'got undefined'], ['app.db', "got a string ('app.db')"],
    [{}, 'got an Object'], [{ loadExtension: 1 }, 'got an Object']]) {
    assert.throws(() => vecguard.load(value), (e) =>
      e instanceof TypeError && e.message.includes(accepted) && e.message.includes(got));
  }
  // the asynchronous sqlite3 package would load later and fail in an event
  const asyncDb = { run() {}, all() {}, loadExtension() { throw new Error('not reached'); } };
  assert.throws(() => vecguard.load(asyncDb), (e) =>
    e instanceof TypeError && /asynchronous sqlite3 package/.test(e.message) &&
    e.message.includes('db.loadExtension(vecguard.loadablePath(), callback)'));
  // node:sqlite before 22.13 has no loadExtension
  class DatabaseSync {}
  assert.throws(() => vecguard.load(new DatabaseSync()), (e) =>
    e instanceof TypeError && e.message.includes(`cannot load extensions in Node ${process.version}`));
});

// Registered only where it can run: elsewhere a line at the end says so.
if (sqlite !== null) test('load with node:sqlite', () => {
  const db = new sqlite.DatabaseSync(':memory:', { allowExtension: true });
  vecguard.load(db);
  assert.ok(db.prepare('SELECT vg_version() AS v').get().v.startsWith(`vecguard ${vecguard.version} (`));
  assertLoadingIsOff(db);
  db.exec('CREATE VIRTUAL TABLE t USING vg_hnsw(embedding float[2])');
  const insert = db.prepare('INSERT INTO t(rowid, embedding) VALUES (?, ?)');
  [[1, [0, 1]], [2, [1, 0]], [3, [3, 4]]].forEach(([id, v]) => insert.run(id, serializeFloat32(v)));
  const rows = db.prepare('SELECT rowid, distance FROM t WHERE embedding MATCH ? AND k = 2')
    .all(serializeFloat32([1, 0.1]));
  assert.deepEqual(rows.map((r) => r.rowid), [2, 1]);
  assertClose(rows[0].distance, refDistance([1, 0.1], [1, 0], 'l2'), 'distance');
  db.close();

  const plain = new sqlite.DatabaseSync(':memory:');
  assert.throws(() => vecguard.load(plain), /allowExtension: true/);
  withEnv(path.join(os.tmpdir(), 'no-such-dir-vg', 'vecguard.so'), () => {
    const other = new sqlite.DatabaseSync(':memory:', { allowExtension: true });
    assert.throws(() => vecguard.load(other), /cannot load '.*no-such-dir-vg/);
    assertLoadingIsOff(other);
  });
});

test('loadablePath: the environment, beside the package, the checkout, the bare name', () => {
  // real path: require() gives the package the directory's real path too
  const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'vg-node-binding-')));
  try {
    const touch = (...parts) => {
      const p = path.join(tmp, ...parts);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, '');
      return p;
    };
    /** A copy of the package in tmp/parts..., required as a module of its own. */
    const packageAt = (...parts) => {
      const dir = path.join(tmp, ...parts);
      fs.mkdirSync(dir, { recursive: true });
      fs.copyFileSync(PACKAGE_SRC, path.join(dir, 'index.js'));
      return require(dir);
    };

    const site = packageAt('site', 'node_modules', 'vecguard');
    const beside = touch('site', 'node_modules', 'vecguard', 'vecguard.so');
    for (const value of ['/nowhere/vecguard.so', 'relative/vg.so']) {
      withEnv(value, () => assert.equal(site.loadablePath(), value));
    }
    withEnv('', () => assert.equal(site.loadablePath(), beside)); // empty: as if unset
    withEnv(undefined, () => assert.equal(site.loadablePath(), beside));

    const repo = packageAt('repo', 'bindings', 'node');
    const built = touch('repo', 'build', 'vecguard.so');
    withEnv(undefined, () => {
      assert.equal(repo.loadablePath(), 'vecguard'); // not a checkout: no ext/vecguard.c
      touch('repo', 'ext', 'vecguard.c');
      assert.equal(repo.loadablePath(), built);
      const own = touch('repo', 'bindings', 'node', 'vecguard.so');
      assert.equal(repo.loadablePath(), own); // beside the package first
      fs.rmSync(own);
      fs.rmSync(built);
      assert.equal(repo.loadablePath(), 'vecguard'); // a checkout not built yet
    });

    const installed = packageAt('app', 'node_modules', 'vecguard');
    withEnv(undefined, () => assert.equal(installed.loadablePath(), 'vecguard'));

    const ours = path.join(REPO, 'build', 'vecguard.so');
    withEnv(undefined, () =>
      assert.equal(vecguard.loadablePath(), fs.existsSync(ours) ? ours : 'vecguard'));

    // a link, not a copy: one file, so dlopen gives back the library already loaded
    fs.symlinkSync(EXTENSION, path.join(tmp, 'app', 'node_modules', 'vecguard', 'vecguard.so'));
    withEnv(undefined, () => {
      const db = new Database(':memory:');
      installed.load(db);
      assert.equal(db.prepare("SELECT vg_distance('[0, 0]', '[3, 4]')").pluck().get(), 5);
      db.close();
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('vectors in a vg_hnsw table, ids and k as JS numbers, against distances computed here', () => {
  const DIMS = 16;
  const r = rng(2024);
  const db = connect();
  for (const metric of ['l2', 'cosine', 'ip']) {
    const table = `t_${metric}`;
    db.exec(`CREATE VIRTUAL TABLE ${table} USING vg_hnsw(embedding float[${DIMS}] distance_metric=${metric},` +
      ' tenant text partition key, +note text)');
    const rows = new Map();
    for (let rowid = 1; rowid <= 300; rowid++) rows.set(rowid, { v: r.vector(DIMS), tenant: 'ab'[rowid % 2] });
    // better-sqlite3 binds every number as a REAL: rowid 1 arrives as 1.0
    const insert = db.prepare(`INSERT INTO ${table}(rowid, embedding, tenant, note) VALUES (?, ?, ?, ?)`);
    db.transaction(() => {
      for (const [rowid, { v, tenant }] of rows) insert.run(rowid, serializeFloat32(v), tenant, `row ${rowid}`);
    })();
    for (const { rowid, embedding } of db.prepare(`SELECT rowid, embedding FROM ${table}`).all()) {
      assert.deepEqual(embedding, pack(rows.get(rowid).v));
    }

    const distance = db.prepare('SELECT vg_distance(?, ?, ?)').pluck();
    for (let i = 0; i < 20; i++) {
      const a = r.vector(DIMS);
      const b = r.vector(DIMS);
      assertClose(distance.get(serializeFloat32(a), serializeFloat32(b), metric), refDistance(a, b, metric), metric);
    }

    const knn = db.prepare(`SELECT rowid, distance, note FROM ${table}` +
      " WHERE embedding MATCH ? AND k = ? AND tenant = 'a' AND exact = ?");
    const k = 10;
    let found = 0, wanted = 0;
    for (let i = 0; i < 5; i++) {
      const q = r.vector(DIMS);
      const ref = [...rows].filter(([, row]) => row.tenant === 'a')
        .map(([rowid, row]) => ({ rowid, d: refDistance(q, row.v, metric) }))
        .sort((x, y) => x.d - y.d);
      for (const exact of [1, 0]) {
        const got = knn.all(serializeFloat32(q), k, exact);
        assert.equal(got.length, k);
        got.forEach((row, rank) => {
          assert.equal(rows.get(row.rowid).tenant, 'a');
          assert.equal(row.note, `row ${row.rowid}`);
          assertClose(row.distance, refDistance(q, rows.get(row.rowid).v, metric), `${metric} row ${row.rowid}`);
          // rank by rank, so near-ties may swap rowids but not distances
          if (exact) assertClose(row.distance, ref[rank].d, `${metric} rank ${rank}`);
        });
        if (!exact) {
          const best = new Set(ref.slice(0, k).map((x) => x.rowid));
          found += got.filter((row) => best.has(row.rowid)).length;
          wanted += k;
        }
      }
    }
    assert.ok(found / wanted >= 0.9, `recall of the graph search, ${metric}: ${found / wanted}`);
  }
  db.close();
});

test('queue item ids as JS numbers, and as BigInts', () => {
  const db = connect();
  db.exec(`CREATE VIRTUAL TABLE notes USING vg_hnsw(embedding float[4], tenant_id text partition key,
    content_type text, content_id text, chunk_index integer, +content text)`);
  const enqueue = db.prepare("SELECT vg_enqueue('notes', 'acme', 'note', ?, ?)").pluck();
  const ids = ['n1', 'n2', 'n3'].map((id, i) => enqueue.get(id, `text ${i}`));
  assert.deepEqual(ids, [1, 2, 3]);
  const claimed = JSON.parse(db.prepare('SELECT vg_queue_claim(?, ?)').pluck().get('w1', 3));
  assert.deepEqual(claimed.map((item) => item.id), [1, 2, 3]);
  assert.equal(typeof claimed[0].id, 'number');

  const complete = db.prepare('SELECT vg_queue_complete(?, ?, ?)').pluck();
  const vectors = { 1: [0.9, 0.1, 0, 0], 2: [0, 1, 0, 0] };
  assert.equal(complete.get(claimed[0].id, serializeFloat32(vectors[1]), 'w1'), 1);
  assert.throws(() => complete.get(2.5, serializeFloat32(vectors[2]), 'w1'), /the item id must be an integer/);
  // with safeIntegers, ids come back as BigInt and are bound as INTEGER
  assert.equal(complete.safeIntegers(true).get(2n, serializeFloat32(vectors[2]), 'w1'), 2n);
  assert.equal(db.prepare('SELECT vg_queue_fail(?, ?, ?)').pluck().get(3, 'embedder down', 'w1'), 'failed');

  assert.deepEqual(db.prepare('SELECT id, status FROM vg_queue ORDER BY id').raw().all(),
    [[1, 'done'], [2, 'done'], [3, 'failed']]);
  for (const [contentId, v] of [['n1', vectors[1]], ['n2', vectors[2]]]) {
    assert.deepEqual(db.prepare('SELECT embedding FROM notes WHERE content_id = ?').pluck().get(contentId), pack(v));
  }
  db.close();
});

/*
 * Every ```js block of docs/node.md, in order, in one scope; the ```output
 * block after one must be what it printed. The blocks run as one script,
 * each at its own line of node.md, so that a stack trace points there.
 */
test('the examples of docs/node.md', () => {
  const file = path.join(DOCS, 'node.md');
  const doc = fs.readFileSync(file, 'utf8');
  const BLOCK = /^```js\n([\s\S]*?)^```\n(\n*```output\n([\s\S]*?)^```\n)?/gm;
  const blocks = [...doc.matchAll(BLOCK)];
  assert.ok(blocks.length >= 5, `${blocks.length} js blocks`);
  assert.equal(blocks.length, doc.split('```js\n').length - 1, 'an unterminated ```js block');

  const lines = [];
  const marks = [];
  blocks.forEach((m, i) => {
    const first = doc.slice(0, m.index).split('\n').length; // the line of ```js
    while (lines.length < first) lines.push('');
    lines.push(...m[1].replace(/\n$/, '').split('\n'));
    lines.push(`__mark(${i});`);
    marks.push(m[2] === undefined ? null : m[3]);
  });
  let out = '';
  const captured = new Console({ stdout: new Writable({ write(chunk, enc, done) { out += chunk; done(); } }) });
  const printed = [];
  const docRequire = (name) => {
    if (name === 'vecguard') return vecguard;
    if (name === 'better-sqlite3') return Database;
    return require(name);
  };
  const run = vm.runInThisContext(`(function (require, console, __mark) {${lines.join('\n')}\n})`,
    { filename: file, lineOffset: 0 });

  const cwd = process.cwd();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vg-docs-'));
  process.chdir(tmp); // examples that write files write them here
  try {
    run(docRequire, captured, (i) => {
      printed[i] = out;
      out = '';
    });
  } finally {
    process.chdir(cwd);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  blocks.forEach((m, i) => {
    if (marks[i] !== null) {
      const line = doc.slice(0, m.index).split('\n').length + 1;
      assert.equal(printed[i], marks[i], `output of the example at ${file}:${line}`);
    }
  });
});

if (sqlite === null) {
  const why = (() => {
    try {
      require('node:sqlite');
      return `node:sqlite in Node ${process.version} cannot load extensions (it can from 22.13)`;
    } catch {
      return `node:sqlite is not in Node ${process.version}`;
    }
  })();
  console.log(`${why}: load() was tested with better-sqlite3 and with objects shaped like a DatabaseSync`);
}
