# tests/fuzz/fuzz.mk — coverage-guided fuzzing with libFuzzer (clang), included
# by the Makefile.
#
#   make fuzz                     build every target in tests/fuzz, run each for
#                                 FUZZ_SECONDS (60) from its seed corpus; fails if
#                                 any target finds a crash or a checker failure
#   make fuzz FUZZ=knn            build and run one target (fuzz_knn.c)
#   make fuzz FUZZ_SECONDS=600    run longer
#   make fuzz FUZZ_FLAGS=-jobs=2  pass more libFuzzer flags
#   make fuzz-build               only build (build/fuzz/fuzz_<name>)
#
# The seed corpus in tests/fuzz/corpus/<name> is copied into
# build/fuzz/run/<name>/corpus, where libFuzzer adds what it finds, so the
# repository's corpus stays as committed (tests/fuzz/make_corpus.py writes
# it); crash files and the log go to build/fuzz/run/<name>/.  Needs clang-14
# and libclang-rt-14-dev.

FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   ?=
FUZZ         ?=

FUZZ_DIR := build/fuzz
FUZZ_ALL := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_RUN := $(if $(FUZZ),$(FUZZ),$(FUZZ_ALL))
FUZZ_BIN := $(FUZZ_RUN:%=$(FUZZ_DIR)/fuzz_%)

# -O1 keeps the sanitizers' reports readable and the runs fast enough.
FUZZ_CFLAGS := -std=c11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror -D_GNU_SOURCE \
  -DSQLITE_CORE -Iext -Iinclude -fsanitize=address,undefined -fno-sanitize-recover=all -MMD -MP
FUZZ_LIBS := -lsqlite3 -lpcre2-8 -lsodium -lutf8proc -ljansson -lopenblas -lcurl -lm -lpthread

# The extension's sources with coverage instrumentation, linked into each
# target (the extension's entry point is called directly).
FUZZ_EXT_OBJ := $(EXT_SRC:ext/%.c=$(FUZZ_DIR)/ext/%.o)

.PHONY: fuzz fuzz-build

$(FUZZ_DIR)/ext/%.o: ext/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/fuzzutil.o: tests/fuzz/fuzzutil.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DIR)/fuzzutil.o $(FUZZ_EXT_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Iext -Itests/fuzz -o $@ $< $(FUZZ_DIR)/fuzzutil.o \
	  $(FUZZ_EXT_OBJ) $(FUZZ_LIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: $(FUZZ_BIN)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_DIR=$(FUZZ_DIR) FUZZ_FLAGS="$(FUZZ_FLAGS)" \
	  tests/fuzz/run_fuzz.sh $(FUZZ_RUN)

-include $(wildcard $(FUZZ_DIR)/*.d $(FUZZ_DIR)/ext/*.d $(FUZZ_DIR)/ext/*/*.d)
