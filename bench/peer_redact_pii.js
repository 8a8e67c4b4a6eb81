// peer_redact_pii.js — the npm package redact-pii on the inputs bench_pii
// measures vecguard on, so that the two compare in one run.
//
//   node peer_redact_pii.js MODULE_DIR CASES_JSONL MIXED_TEXT OUT_JSON
//
// redact-pii returns text, not spans: each finding becomes its kind's name
// (CREDIT_CARD_NUMBER, PERSON_NAME, ...; its options cannot change that).
// The spans are recovered by walking the output against the input: text
// between names is copied unchanged, so a name covers the input up to where
// the next copied text resumes.  Offsets are code points, as the labelled
// cases count them.  Two names with nothing between them share one span
// (given to the first).
'use strict';
const fs = require('fs');
const path = require('path');

const [moduleDir, casesPath, textPath, outPath] = process.argv.slice(2);
const { SyncRedactor } = require(path.join(moduleDir, 'redact-pii'));

// redact-pii's names for what it finds, and the labelled cases' names.
const presidioName = {
  PERSON_NAME: 'PERSON', STREET_ADDRESS: 'STREET_ADDRESS', ZIPCODE: 'ZIP_CODE',
  PHONE_NUMBER: 'PHONE_NUMBER', EMAIL_ADDRESS: 'EMAIL_ADDRESS', CREDIT_CARD_NUMBER: 'CREDIT_CARD',
  IP_ADDRESS: 'IP_ADDRESS', US_SOCIAL_SECURITY_NUMBER: 'US_SSN', URL: 'URL', DIGITS: 'DIGITS',
  USERNAME: 'USERNAME', PASSWORD: 'PASSWORD', CREDENTIALS: 'CREDENTIALS',
};
const nameRe = new RegExp('(' + Object.keys(presidioName).join('|') + ')');
const redactor = new SyncRedactor();

// Align output parts (literal, name, literal, ..., literal) with the input
// as a pattern where each name stands for one or more characters; the
// first alignment found, trying shorter spans first.
function spans(input, output) {
  // Code point offset of each UTF-16 index of input.
  const cp = new Int32Array(input.length + 1);
  for (let i = 0, c = 0; i <= input.length; i++) {
    cp[i] = c;
    const u = input.charCodeAt(i);
    if (!(u >= 0xdc00 && u <= 0xdfff)) c++;
  }
  const parts = output.split(nameRe);
  const failed = new Set();
  const found = [];
  function align(k, p) { // parts[k] is a literal to match at p
    if (!input.startsWith(parts[k], p)) return false;
    p += parts[k].length;
    if (k + 1 === parts.length) return p === input.length;
    const key = k * (input.length + 1) + p;
    if (failed.has(key)) return false;
    for (let end = p + 1; end <= input.length; end++) {
      const next = parts[k + 2];
      if (next !== '') {
        end = input.indexOf(next, end);
        if (end < 0) break;
      }
      found.push({ type: presidioName[parts[k + 1]], start: cp[p], end: cp[end] });
      if (align(k + 2, end)) return true;
      found.pop();
    }
    failed.add(key);
    return false;
  }
  return align(0, 0) ? found : null;
}

const cases = fs.readFileSync(casesPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const result = { cases: [], unaligned: 0 };
for (const c of cases) {
  const s = spans(c.text, redactor.redact(c.text));
  if (s === null) result.unaligned++;
  result.cases.push(s || []);
}

const text = fs.readFileSync(textPath, 'utf8');
const bytes = Buffer.byteLength(text, 'utf8');
let best = Infinity;
for (let r = 0; r < 2; r++) {
  const t0 = process.hrtime.bigint();
  redactor.redact(text);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (s < best) best = s;
}
result.mixed = { bytes, seconds: best };

// Pathological inputs: redact-pii's patterns backtrack, so sizes stay small.
result.patho = [];
for (const [what, unit] of [['digits', '7'], ['@', '@'], ['no spaces', 'a']]) {
  for (const n of [5000, 10000, 20000]) {
    const s = unit.repeat(n);
    const t0 = process.hrtime.bigint();
    redactor.redact(s);
    result.patho.push({ what, bytes: n, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
  }
}
fs.writeFileSync(outPath, JSON.stringify(result));
