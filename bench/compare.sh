#!/bin/sh
# bench/compare.sh — the benchmarks of an older revision and of the working
# tree, side by side, in one run on this machine.
#
#   sh bench/compare.sh [OLD_REV]        (OLD_REV defaults to HEAD: the last
#                                        commit against uncommitted edits)
#
# What it does:
#   1. builds OLD_REV's extension in a temporary git worktree (git worktree
#      add --detach; make -C <worktree> build/vecguard.so, the old Makefile's
#      target), and the working tree's extension, uncommitted edits included,
#      into a temporary build folder (make BUILD=<tmp>/new: build/ is not
#      touched);
#   2. builds the benchmark programs from the working tree (the same programs
#      run against both: they load whatever .so VG_EXTENSION names, so both
#      sides print the same format);
#   3. runs each of bench_ann, bench_exact, bench_pii and bench_queue against
#      the old .so and the new, round after round, old first in odd rounds
#      and new first in even ones, so that a drift of the machine and the
#      order within a pair weigh on both sides alike (use an even number of
#      rounds); the peers (sqlite-vec, vectorlite,
#      hnswlib-node, redact-pii) are left out: their variables are set empty,
#      so nothing is fetched from npm;
#   4. after each benchmark prints a table: each figure of old and new (median
#      over the rounds and its spread, ±half the range in % of the median), the
#      new/old ratio of the medians and the range of the per-round ratios
#      (new of round i over old of round i); a timing figure is called
#      faster or slower only when the two sides' ranges do not overlap and the
#      ratio is further from 1 than either side's whole range (twice its ±)
#      and than 3 %; otherwise "within noise".  Figures that are not timings
#      (recall, sizes, counts) show new minus old in the new/old column, and
#      "same" when every run printed the same value (those are folded into
#      one list), "differs" when the two sides' ranges do not overlap.
#      vg_hnsw draws node levels at random, so recall and file size move a
#      little from one build of a graph to the next, even with one .so: judge
#      them by size.  A last line per benchmark gives the geometric mean of
#      the speed ratios and lists the figures beyond noise; a summary at the
#      end repeats those lines.
#   The worktree and every temporary file are removed at the end (also on
#   Ctrl-C or TERM); nothing in the repository is written but the worktree's
#   own bookkeeping in .git, removed with it.
#
# The script is read whole before it runs (one { } block), so editing it
# during a run does not disturb that run.
#
# Run time, measured on the 2-core machine this was written on while other
# jobs shared it: ~20 min per round of bench_ann (two runs of ~10 min),
# ~7 min per round of bench_exact (two runs of 3-4 min, mostly building
# 160,000 graph rows), ~1 min per round of bench_queue, ~12 s per round of
# bench_pii: with the default rounds (2; 5 for pii and queue) about an hour.
# Knobs (environment):
#   COMPARE_ROUNDS=N        rounds of bench_ann and bench_exact (default 2)
#   COMPARE_FAST_ROUNDS=N   rounds of bench_pii and bench_queue (default 5)
#   COMPARE_BENCHES="..."   which to run, in order (default "ann exact pii
#                           queue"; also "exact-mem": bench_exact on
#                           in-memory databases, VG_BENCH_MEMORY=1)
#   COMPARE_JOBS=N          make -j (default 2)
#   COMPARE_BUILD_TRIES=N   attempts at building the working tree, a minute
#                           apart, for a moment when someone's edit is half
#                           done (default 5)
#   COMPARE_KEEP=dir        copy every raw output and figure file there
#   The programs' own knobs pass through, for a shorter run: VG_BENCH_ROWS
#   (rows of bench_ann's clustered set and bench_exact's generated set;
#   default 100000) and VG_BENCH_ONLY=fashion|clustered (bench_ann's half).
#   E.g. a shorter run (~25 min; the figures are for the smaller sets):
#   VG_BENCH_ROWS=20000 VG_BENCH_ONLY=clustered sh bench/compare.sh 85a849d
#   or one benchmark: COMPARE_BENCHES=ann COMPARE_ROUNDS=3 sh bench/compare.sh
{
set -u

rev=${1:-HEAD}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
rounds=${COMPARE_ROUNDS:-2}
fast_rounds=${COMPARE_FAST_ROUNDS:-5}
benches=${COMPARE_BENCHES:-ann exact pii queue}
jobs=${COMPARE_JOBS:-2}
build_tries=${COMPARE_BUILD_TRIES:-5}
: "${VG_SHARED:=$(cd "$root/.." && pwd)/shared}"

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "compare.sh: $*"; exit 1; }

git -C "$root" rev-parse --verify --quiet "$rev^{commit}" >/dev/null ||
  die "not a commit: $rev"
old_sha=$(git -C "$root" rev-parse --short "$rev^{commit}")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vecguard-compare.XXXXXX") || die "mktemp failed"
wt=$tmp/old
newb=$tmp/new
run=$tmp/run
out=$tmp/out
mkdir -p "$run" "$out"
child=""
# shellcheck disable=SC2317 # (run by the trap)
cleanup() {
  if [ -n "$child" ]; then kill "$child" 2>/dev/null; wait "$child" 2>/dev/null; fi
  if [ -d "$wt" ]; then git -C "$root" worktree remove --force "$wt" >/dev/null 2>&1; fi
  rm -rf "$tmp"
  # the worktree's entry in .git, should the removal above have failed
  if git -C "$root" worktree list --porcelain 2>/dev/null | grep -qxF "worktree $wt"; then
    git -C "$root" worktree prune >/dev/null 2>&1
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

t_start=$(date +%s)

# ---- 1. the old extension ------------------------------------------------
say "worktree of $rev ($old_sha) in $wt"
git -C "$root" worktree add --detach "$wt" "$old_sha" >"$tmp/worktree.log" 2>&1 ||
  { cat "$tmp/worktree.log" >&2; die "git worktree add failed"; }
say "building the old extension (make -C <worktree> build/vecguard.so)"
make -C "$wt" -j"$jobs" build/vecguard.so >"$tmp/old-build.log" 2>&1 ||
  { tail -20 "$tmp/old-build.log" >&2; die "the old revision did not build"; }
old_so=$wt/build/vecguard.so
[ -f "$old_so" ] || die "no $old_so after make"

# ---- 2. the new extension and the benchmark programs ---------------------
bins=""
for b in $benches; do
  b=${b#bench_}
  case $b in
    ann | exact | pii | queue) bins="$bins $newb/bench/bench_$b" ;;
    exact-mem) bins="$bins $newb/bench/bench_exact" ;;
    *) die "unknown benchmark: $b (ann, exact, exact-mem, pii, queue)" ;;
  esac
done
try=1
while :; do
  say "building the working tree's extension and benchmarks (make BUILD=$newb), attempt $try"
  # shellcheck disable=SC2086
  if make -C "$root" -j"$jobs" BUILD="$newb" "$newb/vecguard.so" $bins >"$tmp/new-build.log" 2>&1; then
    break
  fi
  tail -15 "$tmp/new-build.log" >&2
  [ "$try" -lt "$build_tries" ] || die "the working tree did not build ($try attempts)"
  say "the working tree did not build (an edit in progress?): again in 60 s"
  sleep 60
  try=$((try + 1))
done
new_so=$newb/vecguard.so

# ---- what is compared ------------------------------------------------------
dirty=$(git -C "$root" status --porcelain --untracked-files=normal -- ext include Makefile | wc -l | tr -d ' ')
echo "vecguard benchmarks, old against new, one run on $(uname -n) ($(date '+%Y-%m-%d %H:%M'))"
echo "  old: $old_sha  $(git -C "$root" log -1 --format=%s "$old_sha" | cut -c1-90)"
echo "  new: working tree at $(git -C "$root" rev-parse --short HEAD), $dirty changed files in ext/, include/, Makefile"
echo "  machine: $(nproc 2>/dev/null || echo '?') cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo 2>/dev/null | head -1); load average at start $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
echo "  rounds: $rounds (ann, exact), $fast_rounds (pii, queue); odd rounds run old then new, even rounds new then old; peers left out; benchmark programs from the working tree"
[ -n "${VG_BENCH_ROWS:-}" ] && echo "  VG_BENCH_ROWS=$VG_BENCH_ROWS (reduced size)"
[ -n "${VG_BENCH_ONLY:-}" ] && echo "  VG_BENCH_ONLY=$VG_BENCH_ONLY (bench_ann on one data set)"

# ---- figures out of a program's output -------------------------------------
# extract BENCH < output: lines "figure<TAB>kind<TAB>value"; kind is rate
# (higher is faster), time (lower is faster) or info (recall, sizes, counts).
extract() {
  awk -v bench="$1" '
    function emit(k, kind, v) { gsub(/^[ \t]+|[ \t]+$/, "", k); gsub(/[(),+]/, "", v)
                                if (v ~ /^-?[0-9.]+$/) printf "%s\t%s\t%s\n", k, kind, v }
    # the field before the first one that begins with unit
    function before(unit,   i) { for (i = 2; i <= NF; i++) if (index($i, unit) == 1) return $(i - 1); return "" }
    bench == "ann" {
      if ($0 ~ /^\[1\]/) { sec = "fashion"; mode = "" }
      else if ($0 ~ /^\[2\]/) { sec = "clustered"; mode = "" }
      if ($0 ~ /build, one transaction/) { mode = "build"; next }
      if (mode == "build" && $1 == "vecguard" && $3 == "rows/s") { emit(sec " build rows/s", "rate", $2); mode = ""; next }
      if ($0 ~ /^  [0-9]+ +\|/) {                       # the ef table
        split($0, c, "|"); ef = $1; split(c[2], f, " ")
        emit(sec " ef=" ef " recall", "info", f[1]); emit(sec " ef=" ef " q/s", "rate", f[2]); next }
      if ($0 ~ /^    [0-9]+ +\|/) {                     # the int8 table
        split($0, c, "|"); ef = $1; split(c[3], f, " ")
        emit(sec " int8 ef=" ef " recall", "info", f[1]); emit(sec " int8 ef=" ef " q/s", "rate", f[2]); next }
      if ($1 == "recall" && $3 == "vecguard") { r = $2; sub(/:$/, "", r); emit(sec " q/s at recall " r, "rate", $4); next }
      if ($1 == "vecguard" && $2 == "exact=1") { emit(sec " exact=1 recall", "info", $4); emit(sec " exact=1 q/s", "rate", $5); next }
      if ($1 == "build" && $3 == "rows/s") { emit(sec " int8 build rows/s", "rate", $2); next }
      if ($1 == "exact=1:" && $2 == "float32") { emit(sec " int8 exact=1 q/s", "rate", $6); next }
      if ($0 ~ /the vecguard file/) { fm = $4; sub(/\.db,?$/, "", fm); mode = "file"; next }
      if (mode == "file" && $1 == "file") { emit(fm " file MiB", "info", $2); next }
      if (mode == "file" && $1 == "first") { emit(fm " first query ms", "time", $3); emit(fm " second query ms", "time", $9); next }
      if (mode == "file" && $1 == "heap") { emit(fm " heap MiB after first query", "info", $2); mode = ""; next }
      if ($0 ~ /exact or graph under a filter/) { mode = "cross"; next }
      if (mode == "cross" && NF == 7 && $1 ~ /^[0-9]+$/) {
        k = "filter m=" $1
        emit(k " exact q/s", "rate", $3); emit(k " graph q/s", "rate", $4); emit(k " auto q/s", "rate", $5)
        emit(k " graph recall", "info", $6); emit(k " auto recall", "info", $7); next }
      if ($0 ~ /^  churn:/) { mode = "churn"; next }
      if (mode == "churn" && NF == 3 && $1 ~ /^[0-9]+$/ && ($1 == 0 || $1 == 10)) {
        emit("churn round " $1 " file MiB", "info", $2); emit("churn round " $1 " recall", "info", $3); next }
    }
    bench == "exact" {
      if ($0 ~ /^\[1\]/) sec = "generated"
      else if ($0 ~ /^\[2\]/) sec = "fashion"
      if ($0 ~ /recall@10 =/) { emit(sec " recall@10", "info", $3); next }
      for (i = 1; i < NF; i++) if ($i == "vecguard") break
      if (i < NF - 1 && ($(i + 2) == "q/s" || $(i + 2) == "rows/s")) {
        k = sec; for (j = 1; j < i; j++) k = k " " $j
        emit(k " " $(i + 2), "rate", $(i + 1)) }
    }
    bench == "pii" {
      if ($1 == "bench_pii:") { emit("labelled cases, detect pass s", "time", $NF == "s)" ? $(NF - 1) : ""); next }
      if ($0 ~ /^  vg_pii_/ && $0 ~ /MB\/s/) { k = $0; sub(/:.*/, "", k); emit(k " MB/s", "rate", before("MB/s")); next }
      if ($0 ~ /^== pathological/) { mode = "patho"; next }
      if ($0 ~ /^== quality/) { mode = "quality"; next }
      if (mode == "patho" && $NF ~ /^[0-9.]+$/ && $(NF - 1) == "ms") {
        k = ""; for (j = 1; j <= NF - 5; j++) k = k " " $j
        emit("pathological" k ", 1 MB ms", "time", $(NF - 4)); emit("pathological" k ", 2 MB ms", "time", $(NF - 2)); next }
      if (mode == "quality" && $0 ~ /\|/ && $1 ~ /^[A-Z][A-Z0-9_]+$/) {
        split($0, c, "|"); split(c[2], f, " "); tp += f[1]; fp += f[2]; fn += f[3]; next }
      if ($0 ~ /recognized types below 0.95/) { emit("quality: types below 0.95", "info", $1); next }
    }
    bench == "queue" {
      if ($1 == "embedder") { emit("vg_embed texts/s", "rate", before("texts/s")); next }
      if ($1 == "queue,") { emit("queue " $2 " proc claims/s", "rate", before("claims/s"))
                            emit("queue " $2 " proc completions/s", "rate", before("completions/s")); next }
      if ($1 == "vg_ingest") { emit("e2e vg_ingest documents/s", "rate", before("documents/s")); next }
      if ($1 == "vg_queue_run(256)") { emit("e2e vg_queue_run documents/s", "rate", before("documents/s"))
                                       emit("e2e chunks", "info", before("chunks")); next }
      if ($1 == "first" && $2 == "vg_search") { emit("e2e first vg_search s", "time", before("s,")); next }
      if ($1 == "ingest" && $2 == "->") { emit("e2e ingest->searchable documents/s", "rate", before("documents/s")); next }
    }
    END { if (bench == "pii" && tp + fp + fn > 0) {
            emit("quality: TP, all types", "info", tp); emit("quality: FP, all types", "info", fp)
            emit("quality: FN, all types", "info", fn) } }
  '
}

# report TITLE FILES...: the table of one benchmark from its figure files
# (named <name>.<old|new>.<round>.tsv).
report() {
  title=$1
  shift
  awk -F'\t' -v title="$title" '
    function decimals(s) { return index(s, ".") ? length(s) - index(s, ".") : 0 }
    function fmt(v, d) { return sprintf("%." d "f", v) }
    function median(a, n,   i, j, t, b) {
      for (i = 1; i <= n; i++) b[i] = a[i]
      for (i = 2; i <= n; i++) { t = b[i]; for (j = i - 1; j >= 1 && b[j] > t; j--) b[j + 1] = b[j]; b[j + 1] = t }
      return n % 2 ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2 }
    function abs(x) { return x < 0 ? -x : x }
    {
      f = FILENAME; sub(/.*\//, "", f); n = split(f, p, ".")
      side = p[n - 2]; r = p[n - 1] + 0; if (r > R) R = r
      if (!(($1) in kind)) { order[++nk] = $1; kind[$1] = $2 }
      val[$1, side, r] = $3; has[$1, side, r] = 1
      if (!(($1) in dec)) dec[$1] = decimals($3)
    }
    END {
      printf "\n== %s\n", title
      printf "  %-48s %12s %7s %12s %7s %8s  %-13s  %s\n", "figure", "old", "±", "new", "±", "new/old", "per round", "verdict"
      nt = 0; logsum = 0; nf = 0; ns = 0; list = ""
      for (i = 1; i <= nk; i++) {
        k = order[i]; no = nn = 0; np = 0; rmin = 1e300; rmax = -1e300
        omin = nmin = 1e300; omax = nmax = -1e300; allsame = 1; first = ""
        for (r = 1; r <= R; r++) {
          if (has[k, "old", r]) { v = val[k, "old", r]; o[++no] = v + 0; if (v + 0 < omin) omin = v + 0; if (v + 0 > omax) omax = v + 0
                                   if (first == "") first = v + 0; else if (v + 0 != first) allsame = 0 }
          if (has[k, "new", r]) { v = val[k, "new", r]; w[++nn] = v + 0; if (v + 0 < nmin) nmin = v + 0; if (v + 0 > nmax) nmax = v + 0
                                   if (first == "") first = v + 0; else if (v + 0 != first) allsame = 0 }
          if (has[k, "old", r] && has[k, "new", r] && val[k, "old", r] + 0 != 0) {
            q = val[k, "new", r] / val[k, "old", r]; np++; if (q < rmin) rmin = q; if (q > rmax) rmax = q }
        }
        if (no == 0 || nn == 0) {
          printf "  %-48s %12s %7s %12s %7s %8s  %-13s  %s\n", k, no ? fmt(median(o, no), dec[k]) : "-", "", nn ? fmt(median(w, nn), dec[k]) : "-", "", "", "", "missing on one side"
          continue }
        mo = median(o, no); mn = median(w, nn)
        so = mo != 0 ? (omax - omin) / 2 / abs(mo) : 0; sn = mn != 0 ? (nmax - nmin) / 2 / abs(mn) : 0
        spo = sprintf("%.1f%%", 100 * so); spn = sprintf("%.1f%%", 100 * sn)
        if (kind[k] == "info") {
          verdict = allsame ? "same" : (omax < nmin || nmax < omin) ? "differs" : "varies (ranges overlap)"
          if (allsame) { same = same (same == "" ? "" : "; ") k " " fmt(mo, dec[k]); nsame++; continue }
          diff = fmt(mn - mo, dec[k]); if (diff !~ /^-/) diff = "+" diff
          printf "  %-48s %12s %7s %12s %7s %8s  %-13s  %s\n", k, fmt(mo, dec[k]), (no > 1 ? spo : ""), fmt(mn, dec[k]), (nn > 1 ? spn : ""), diff, "", verdict
          continue }
        if (mo == 0 || mn == 0) {
          printf "  %-48s %12s %7s %12s %7s %8s  %-13s  %s\n", k, fmt(mo, dec[k]), spo, fmt(mn, dec[k]), spn, "-", "", "(zero)"
          continue }
        ratio = mn / mo
        per = np ? sprintf("%.2f..%.2f", rmin, rmax) : ""
        noise = 2 * so; if (2 * sn > noise) noise = 2 * sn; if (noise < 0.03) noise = 0.03
        separate = omax < nmin || nmax < omin
        speed = kind[k] == "rate" ? ratio : 1 / ratio      # > 1: new is faster
        nt++; logsum += log(speed)
        if (separate && abs(ratio - 1) > noise) {
          if (speed > 1) { verdict = sprintf("new faster (%+.0f%%)", 100 * (speed - 1)); nf++ }
          else { verdict = sprintf("NEW SLOWER (%+.0f%%)", 100 * (speed - 1)); ns++ }
          list = list "\n    " k ": " verdict
        } else verdict = "within noise"
        printf "  %-48s %12s %7s %12s %7s %8.3f  %-13s  %s\n", k, fmt(mo, dec[k]), spo, fmt(mn, dec[k]), spn, ratio, per, verdict
      }
      if (nsame > 0) {   # the figures that are not timings and never changed, folded
        printf "  %d other figures, the same in every run of both:\n", nsame
        nw = split(same, word, "; "); line = " "
        for (i = 1; i <= nw; i++) {
          if (length(line) + length(word[i]) > 150) { print line; line = " " }
          line = line " " word[i] (i < nw ? ";" : "") }
        print line
      }
      if (nt > 0) {
        printf "  -- %d timing figures; geometric mean of the speed ratio (new/old for rates, old/new for times; > 1: new faster): %.3f\n", nt, exp(logsum / nt)
        printf "  -- beyond noise: %d faster, %d slower%s\n", nf, ns, list
      }
    }' "$@"
}

# ---- 3. the runs ------------------------------------------------------------
export VG_SHARED
status=0
summary=""
for b in $benches; do
  b=${b#bench_}
  name=$b
  mem=""
  case $b in
    pii | queue) n=$fast_rounds ;;
    exact-mem) n=$rounds; b=exact; mem=1 ;;
    *) n=$rounds ;;
  esac
  bin=$newb/bench/bench_$b
  files=""
  notes=""
  t_bench=$(date +%s)
  i=1
  while [ "$i" -le "$n" ]; do
    # Odd rounds run old first, even rounds new first: on this machine the
    # run that comes second of a pair often looks faster, by up to 15 %.
    if [ $((i % 2)) -eq 1 ]; then order="old new"; else order="new old"; fi
    for side in $order; do
      if [ "$side" = old ]; then so=$old_so; else so=$new_so; fi
      o=$out/$name.$side.$i
      rm -rf "$run" && mkdir -p "$run"
      t0=$(date +%s)
      env VG_EXTENSION="$so" VG_BENCH_DIR="$run" VG_BENCH_SRC="$here" TMPDIR="$run" \
        VG_SQLITE_VEC= VG_VECTORLITE= VG_HNSWLIB_NODE= VG_REDACT_PII= \
        ${mem:+VG_BENCH_MEMORY=1} "$bin" >"$o.txt" 2>"$o.err" &
      child=$!
      wait "$child"
      rc=$?
      child=""
      t1=$(date +%s)
      say "bench_$name ($side, round $i of $n): $((t1 - t0)) s$([ "$rc" -ne 0 ] && echo ", exit $rc")"
      if [ "$rc" -ne 0 ]; then
        status=1
        notes="$notes
  $side round $i failed (exit $rc): $(tail -1 "$o.err")"
        continue
      fi
      extract "$b" <"$o.txt" >"$out/$name.$side.$i.tsv"
      if [ "$b" = pii ]; then # the whole per-type table, as one figure
        printf 'quality table checksum (cksum)\tinfo\t%s\n' \
          "$(sed -n '/^== quality/,$p' "$o.txt" | cksum | cut -d' ' -f1)" >>"$out/$name.$side.$i.tsv"
      fi
      files="$files $out/$name.$side.$i.tsv"
    done
    i=$((i + 1))
  done
  what="bench_$name"
  [ -n "$mem" ] && what="bench_exact (in-memory databases)"
  if [ -n "$files" ]; then
    # shellcheck disable=SC2086
    report "$what: $n rounds of old and new, $(($(date +%s) - t_bench)) s" $files | tee "$out/$name.report"
  else
    printf '\n== %s: no run succeeded\n' "$what"
  fi
  [ -n "$notes" ] && printf '%s\n' "$notes"
  summary="$summary
$(grep -e '^  -- [0-9]* timing' -e '^  -- beyond' "$out/$name.report" 2>/dev/null | sed "s/^  --/  $what:/" | cut -c1-160)"
done

t_end=$(date +%s)
echo
echo "== summary ($(( (t_end - t_start) / 60 )) min $(( (t_end - t_start) % 60 )) s in all; load average now $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null))"
printf '%s\n' "$summary" | sed '/^$/d'
if [ -n "${COMPARE_KEEP:-}" ]; then
  mkdir -p "$COMPARE_KEEP" && cp "$out"/* "$COMPARE_KEEP"/ && echo "raw outputs in $COMPARE_KEEP"
fi
exit $status
}
