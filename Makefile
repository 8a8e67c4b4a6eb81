# vecguard — build, test, benchmark.
#
#   make                  build/vecguard.so, the loadable extension
#   make test             every unit and SQL test (after make check-layers)
#   make check-layers     fail when a layer of ext/ includes one above it
#   make test SANITIZE=1  the same under AddressSanitizer + UBSan (in build/san)
#   make crash-test       the SIGKILL crash loop, 50 kills per journal mode
#   make bench            benchmarks against sqlite-vec, vectorlite and hnswlib
#                         (fetched from npm), and vecguardd under wrk;
#                         BENCH=bench_ann (or bench_vecguardd, bench_sync) runs one
#   make demo             load the extension in the sqlite3 shell and search
#   make install          vecguard.so, libvecguard.a, vecguard.h, vecguard.pc,
#                         sql/, docs, bin/vecguardd and its systemd unit
#                         under PREFIX (/usr), DESTDIR honoured;
#                         make uninstall removes them
#   make fuzz             each libFuzzer target in tests/fuzz for 60 s (clang-14;
#                         FUZZ=knn runs one, FUZZ_SECONDS=600 longer)

CC       ?= cc
SANITIZE ?= 0

# The sanitizer build (and the fuzz build, tests/fuzz/fuzz.mk) keep the
# assert()s on the graph's invariants; the plain build, which is installed
# and benchmarked, leaves them out.
ifeq ($(SANITIZE),1)
BUILD   := build/san
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASSERTS :=
else
BUILD   := build
SAN     :=
ASSERTS := -DNDEBUG
endif

CFLAGS_COMMON := -std=c11 -O2 -g -fPIC -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP -Iext -Iinclude $(SAN) $(ASSERTS)
EXT_LIBS      := -lpcre2-8 -lsodium -lutf8proc -ljansson -lopenblas -lcurl -lm -lpthread
TEST_LIBS     := -lcmocka -lsqlite3 -lpcre2-8 -lsodium -lutf8proc -ljansson -lopenblas -lcurl -lm -lpthread

EXT_SRC  := $(wildcard ext/*.c ext/*/*.c)
EXT_OBJ  := $(EXT_SRC:ext/%.c=$(BUILD)/ext/%.o)
# The same sources built against the SQLite library directly, for unit tests
# and for libvecguard.a, which programs link with SQLite.
CORE_OBJ := $(EXT_SRC:ext/%.c=$(BUILD)/core/%.o)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
SQL_SRC  := $(wildcard tests/sql/test_*.c)
SQL_BIN  := $(SQL_SRC:tests/sql/%.c=$(BUILD)/tests/sql/%)
# bench_appliance is bench/bench_vecguardd.sh's helper, not a benchmark run alone.
BENCH_SRC := $(filter-out bench/bench_appliance.c,$(wildcard bench/bench_*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

EXT := $(BUILD)/vecguard.so
# vecguardd, the appliance (docs/appliance.md): links libvecguard.a and
# reaches data through SQL only.
DAEMON     := $(BUILD)/vecguardd
DAEMON_SRC := $(wildcard appliance/*.c)
DAEMON_OBJ := $(DAEMON_SRC:appliance/%.c=$(BUILD)/appliance/%.o)
DAEMON_LIBS := -lmicrohttpd -linih -lzstd -lsqlite3 $(EXT_LIBS)
LIB := $(BUILD)/libvecguard.a
PC  := $(BUILD)/vecguard.pc
VERSION := $(shell sed -n 's/^\#define VECGUARD_VERSION "\(.*\)"/\1/p' include/vecguard.h)

# make install: where SQLite's loader finds vecguard.so by name (.load
# vecguard), which /usr/lib is and /usr/local/lib is not (docs/install.md).
PREFIX  ?= /usr
DESTDIR ?=
LIBDIR  := $(PREFIX)/lib
INCDIR  := $(PREFIX)/include
DATADIR := $(PREFIX)/share
BINDIR  := $(PREFIX)/bin
UNITDIR := $(PREFIX)/lib/systemd/system

.PHONY: all test check-layers crash-test bench demo clean install uninstall
# Keep object files that only pattern rules mention.
.SECONDARY:
all: $(EXT) $(LIB) $(PC) $(DAEMON)

$(EXT): $(EXT_OBJ)
	$(CC) -shared $(SAN) -o $@ $^ $(EXT_LIBS)

$(LIB): $(CORE_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(PC): Makefile include/vecguard.h
	@mkdir -p $(@D)
	@printf '%s\n' 'prefix=$(PREFIX)' 'includedir=$${prefix}/include' 'libdir=$${prefix}/lib' '' \
	  'Name: vecguard' \
	  'Description: vector search, tenant partitions and personal-data protection inside SQLite' \
	  'Version: $(VERSION)' 'Requires: sqlite3' 'Requires.private: libsodium libpcre2-8 libutf8proc jansson openblas' \
	  'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lvecguard' 'Libs.private: -lcurl -lm -lpthread' >$@

install: $(EXT) $(LIB) $(PC) $(DAEMON)
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR) \
	  $(DESTDIR)$(DATADIR)/vecguard/sql $(DESTDIR)$(DATADIR)/doc/vecguard/docs
	install -m 755 $(EXT) $(DESTDIR)$(LIBDIR)/vecguard.so
	install -m 644 $(LIB) $(DESTDIR)$(LIBDIR)/libvecguard.a
	install -m 644 $(PC) $(DESTDIR)$(LIBDIR)/pkgconfig/vecguard.pc
	install -m 644 include/vecguard.h $(DESTDIR)$(INCDIR)/vecguard.h
	install -m 644 sql/*.sql $(DESTDIR)$(DATADIR)/vecguard/sql/
	install -m 644 README.md $(DESTDIR)$(DATADIR)/doc/vecguard/
	install -m 644 docs/*.md $(DESTDIR)$(DATADIR)/doc/vecguard/docs/
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR)
	install -m 755 $(DAEMON) $(DESTDIR)$(BINDIR)/vecguardd
	# the example unit names /usr/local; the installed one names PREFIX
	sed -e 's|/usr/local/bin/vecguardd|$(BINDIR)/vecguardd|' -e 's|/usr/share/doc/|$(DATADIR)/doc/|' \
	  examples/vecguardd.service >$(DESTDIR)$(UNITDIR)/vecguardd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/vecguardd.service

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/vecguard.so $(DESTDIR)$(LIBDIR)/libvecguard.a \
	  $(DESTDIR)$(LIBDIR)/pkgconfig/vecguard.pc $(DESTDIR)$(INCDIR)/vecguard.h \
	  $(DESTDIR)$(BINDIR)/vecguardd $(DESTDIR)$(UNITDIR)/vecguardd.service
	rm -rf $(DESTDIR)$(DATADIR)/vecguard $(DESTDIR)$(DATADIR)/doc/vecguard

$(DAEMON): $(DAEMON_OBJ) $(LIB)
	$(CC) $(SAN) -o $@ $(DAEMON_OBJ) $(LIB) $(DAEMON_LIBS)

$(BUILD)/appliance/%.o: appliance/%.c appliance/vecguardd.h Makefile
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -Iappliance -c -o $@ $<

# The loadable extension exports the public API only (tests/install/test_exports.sh).
$(BUILD)/ext/%.o: ext/%.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -fvisibility=hidden -c -o $@ $<

$(BUILD)/core/%.o: ext/%.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -DSQLITE_CORE -c -o $@ $<

$(BUILD)/tests/unit/%: tests/unit/%.c $(CORE_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -DSQLITE_CORE -Iext -o $@ $< $(CORE_OBJ) $(TEST_LIBS)

# The encoder's elementwise loops (bert/model.c) are written for the
# vectorizer, which -O2 leaves out of loops like theirs.
$(BUILD)/ext/bert/model.o $(BUILD)/core/bert/model.o: CFLAGS_COMMON += -O3

# The hnsw layer uses no SQLite (hnsw.h): its tests link its objects and the
# distance kernels alone, without -lsqlite3.
HNSW_OBJ   := $(patsubst ext/%.c,$(BUILD)/core/%.o,$(wildcard ext/hnsw/*.c) ext/vector/distance.c)
HNSW_TESTS := $(patsubst %,$(BUILD)/tests/unit/%,test_hnsw test_i64map test_topk)
$(HNSW_TESTS): $(BUILD)/tests/unit/%: tests/unit/%.c $(HNSW_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -o $@ $< $(HNSW_OBJ) -lcmocka -lm -lpthread

# So does the fulltext layer (fulltext.h): its test links its objects alone.
FULLTEXT_OBJ   := $(patsubst ext/%.c,$(BUILD)/core/%.o,$(wildcard ext/fulltext/*.c))
FULLTEXT_TESTS := $(BUILD)/tests/unit/test_fulltext
$(FULLTEXT_TESTS): $(BUILD)/tests/unit/%: tests/unit/%.c $(FULLTEXT_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -o $@ $< $(FULLTEXT_OBJ) -lcmocka -lutf8proc -lm

# So does the bert layer (bert.h).
BERT_OBJ   := $(patsubst ext/%.c,$(BUILD)/core/%.o,$(wildcard ext/bert/*.c))
BERT_TESTS := $(BUILD)/tests/unit/test_bert
$(BERT_TESTS): $(BUILD)/tests/unit/%: tests/unit/%.c $(BERT_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -o $@ $< $(BERT_OBJ) -lcmocka -lutf8proc -ljansson -lopenblas -lm

$(BUILD)/tests/sql/%: tests/sql/%.c tests/sql/testdb.c tests/sql/testdb.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -Itests/sql -o $@ $< tests/sql/testdb.c $(TEST_LIBS)

$(BUILD)/bench/%: bench/%.c bench/benchutil.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -O3 -Ibench -o $@ $< -lsqlite3 -lm

# The encoder's benchmark links the bert layer itself.
$(BUILD)/bench/bench_bert: bench/bench_bert.c bench/benchutil.h $(BERT_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -O3 -Ibench -o $@ $< $(BERT_OBJ) -lutf8proc -ljansson -lopenblas -lm

# The README's snippet (in the sqlite3 shell) and the Python and Node
# helpers' tests load the extension into programs that an ASan build cannot
# enter without preloading its runtime: they run in the plain build only (the
# C tests cover the same code under the sanitizers), except the reference
# tests of the models and services, which only Python reaches and which
# san_reference.sh runs with the runtime preloaded.  The Node test installs
# better-sqlite3 from npm into build/node_modules (tests/bindings/node_deps.sh).
HOST_TESTS := $(if $(filter 1,$(SANITIZE)),tests/reference/san_reference.sh,tests/readme/test_readme.sh tests/bindings/test_python.py \
  tests/bindings/test_node.js tests/install/test_install.sh tests/reference/test_porter.py \
  tests/reference/test_bm25.py tests/reference/test_embed_hash.py tests/reference/test_lexical_scale.py \
  tests/reference/test_bert_forward.py tests/reference/test_service.py tests/reference/test_ner.py \
  tests/reference/test_model_pipeline.py tests/reference/test_sqlite_vec.py)
# The daemon's test starts the real vecguardd, built with the sanitizers
# too under SANITIZE=1 (it is a program of its own, so no preloading).
DAEMON_TESTS := tests/appliance/test_vecguardd.py tests/appliance/test_vecguardd_api.py \
  tests/appliance/test_vecguardd_faults.py tests/appliance/test_docs_curl.py tests/appliance/test_sync.py \
  tests/appliance/test_s3test.py tests/appliance/test_sync_daemon.py tests/appliance/test_docs_sync.py
# Checks of what the build makes (exported symbols; the install tree, in
# HOST_TESTS, since it builds a program against the library).
BUILD_TESTS := tests/install/test_exports.sh

# Every test program runs even when an earlier one fails; the target fails
# if any did.
test: check-layers $(EXT) $(LIB) $(PC) $(DAEMON) $(UNIT_BIN) $(SQL_BIN)
	@VG_EXTENSION=$(abspath $(EXT)) VG_DOCS=$(abspath docs) VG_BUILD=$(BUILD) VG_DAEMON=$(abspath $(DAEMON)) \
	  tests/run_tests.sh $(UNIT_BIN) $(SQL_BIN) $(BUILD_TESTS) $(HOST_TESTS) $(DAEMON_TESTS)

# The layers of ext/ include one way only (docs/architecture.md).
check-layers:
	@tests/check_layers.sh

crash-test: $(EXT) $(BUILD)/tests/sql/test_crash
	@VG_EXTENSION=$(abspath $(EXT)) VG_CRASH_KILLS=50 \
	  tests/run_tests.sh $(BUILD)/tests/sql/test_crash

# The daemon's benchmark is a script (it starts vecguardd and drives it with
# wrk) with a helper program linked with libvecguard.a and libcurl.
BENCH_APPLIANCE := $(BUILD)/bench/bench_appliance
$(BENCH_APPLIANCE): bench/bench_appliance.c bench/benchutil.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -O3 -Ibench -o $@ $< $(LIB) -lsqlite3 $(EXT_LIBS)

# make bench BENCH=bench_ann runs one of them (BENCH=bench_vecguardd the daemon's,
# BENCH=bench_sync sync's: bench/bench_sync.sh, run only when asked for).
BENCH_SH := bench_vecguardd bench_sync
BENCH_RUN := $(if $(BENCH),$(if $(filter $(BENCH_SH),$(BENCH)),bench/$(BENCH).sh,$(BUILD)/bench/$(BENCH)),$(BENCH_BIN) bench/bench_vecguardd.sh)

bench: $(EXT) $(filter-out %.sh,$(BENCH_RUN)) $(if $(filter %.sh,$(BENCH_RUN)),$(DAEMON) $(BENCH_APPLIANCE))
	@VG_EXTENSION=$(abspath $(EXT)) VG_DAEMON=$(abspath $(DAEMON)) VG_BENCH_APPLIANCE=$(abspath $(BENCH_APPLIANCE)) \
	  bench/run_bench.sh $(BENCH_RUN)

demo: build/vecguard.so $(DAEMON)
	examples/demo.sh
	examples/demo_appliance.sh

clean:
	rm -rf build

include tests/fuzz/fuzz.mk

-include $(wildcard $(BUILD)/*/*.d $(BUILD)/*/*/*.d $(BUILD)/*/*/*/*.d)
