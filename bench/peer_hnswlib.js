// peer_hnswlib.js — hnswlib-node, the in-memory HNSW library, on the data
// bench_ann writes: builds an index at the given M and ef_construction, runs
// the queries at each ef and writes the result labels for bench_ann to score.
//
//   node peer_hnswlib.js MODULE_DIR BASE QUERIES METRIC M EFC K OUT EF...
//
// BASE and QUERIES: int32 n, int32 d, then n*d float32 (little-endian).
// Prints "build SECONDS" and, per ef, "ef EF SECONDS"; labels (int32, nq*k)
// go to OUT.EF.
'use strict';
const fs = require('fs');
const path = require('path');
const [moduleDir, baseFile, queryFile, metric, m, efc, k, out, ...efs] = process.argv.slice(2);
const { HierarchicalNSW } = require(path.join(moduleDir, 'hnswlib-node'));

function readVectors(file) {
  const buf = fs.readFileSync(file);
  const n = buf.readInt32LE(0), d = buf.readInt32LE(4);
  const all = new Float32Array(buf.buffer, buf.byteOffset + 8, n * d);
  // hnswlib-node takes plain arrays only; convert outside the timed parts
  const rows = new Array(n);
  for (let i = 0; i < n; i++) rows[i] = Array.from(all.subarray(i * d, (i + 1) * d));
  return { n, d, rows };
}

const base = readVectors(baseFile), queries = readVectors(queryFile);
const index = new HierarchicalNSW(metric, base.d);
index.initIndex(base.n, Number(m), Number(efc), 100);
let t0 = process.hrtime.bigint();
for (let i = 0; i < base.n; i++) index.addPoint(base.rows[i], i + 1);
console.log(`build ${Number(process.hrtime.bigint() - t0) / 1e9}`);
const kk = Number(k);
for (const ef of efs) {
  index.setEf(Number(ef));
  const labels = new Int32Array(queries.n * kk).fill(-1);
  t0 = process.hrtime.bigint();
  for (let q = 0; q < queries.n; q++) {
    const r = index.searchKnn(queries.rows[q], kk);
    for (let j = 0; j < r.neighbors.length; j++) labels[q * kk + j] = r.neighbors[j];
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  fs.writeFileSync(`${out}.${ef}`, Buffer.from(labels.buffer));
  console.log(`ef ${ef} ${seconds}`);
}
