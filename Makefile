# backprop -- build, test, run, install.
#
#   make                 the library (static + shared) and the examples
#   make test            every cmocka suite (installs or names libcmocka-dev when missing), the
#                        docs' examples and the check that autograd/ has no dependency cycle
#   make run             build and run the first example (the chain rule on one neuron)
#   make sanitize        the test suite and every example under AddressSanitizer +
#                        UndefinedBehaviorSanitizer (leaks fail it too); the two real-data
#                        examples on the shorter runs of scripts/sanitize-example-args
#   make valgrind        the same under valgrind's memcheck (errors and leaks fail it)
#   make tsan            the threads and worker-pool tests under ThreadSanitizer (TSAN_CC, clang by default)
#   make fuzz            the libFuzzer harnesses fuzz/fuzz_*.c for FUZZ_SECONDS in all (60; clang)
#   make bench           time the workloads of bench/ side by side with PyTorch and OpenBLAS
#   make install PREFIX=/usr/local   headers, both libraries and backprop.pc for pkg-config
#   make docs            write docs/api.md from the public headers, and draw the chain-rule
#                        neuron's tape for docs/tutorial.md (Graphviz's dot, when installed)
#   make check-docs      fail when docs/api.md differs from what the headers give
#   make mpi             the optional MPI programs (mpi/; skipped without mpicc); make mpi-check
#   make web             the playground (web/): the library in WebAssembly and its page, in
#                        build/web (optional: clang-14, lld-14, wasi-libc, npm); make serve shows
#                        it on 127.0.0.1; make test-web runs it in headless Chromium
#   make clean
#
# Variables: CC (cc, gcc or clang), CFLAGS (optimisation/debug), BUILD (output directory).

CC      ?= cc
CFLAGS  ?= -O2 -g
PREFIX  ?= /usr/local
BUILD   ?= build
VERSION := 0.1.0

STD      := -std=c11 -Wall -Wextra -Wpedantic -Werror=implicit-function-declaration
INCLUDES := -I. -Iautograd -Inn
# -fno-math-errno: sqrtf and the like never set errno (nothing here reads it after them), so the
# compiler may turn loops that call them (the optimisers' steps) into vector code; no value changes.
ALL_CFLAGS = $(STD) $(INCLUDES) -fPIC -fvisibility=hidden -fno-math-errno -MMD -MP $(CFLAGS) \
             $(EXTRA_CFLAGS)
LDLIBS   := -lm -lpthread

LIB_SRC  := $(sort $(wildcard autograd/*.c nn/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
HEADERS  := backprop.h autograd/autograd.h $(wildcard nn/nn.h)
STATIC   := $(BUILD)/libbackprop.a
SHARED   := $(BUILD)/libbackprop.so

# Examples: each examples/NAME.c is a program $(EXDIR)/NAME (examples/NAME by default);
# examples/support/*.c (command line, IDX files, SVG plots, progress lines) and examples/paper/*.c
# (the paper's tasks and their training loop) are shared by them: example code, not the library.
EXDIR     ?= examples
EX_SRC    := $(sort $(wildcard examples/*.c))
EX_BIN    := $(EX_SRC:examples/%.c=$(EXDIR)/%)
EX_HELPERS := $(sort $(wildcard examples/support/*.c examples/paper/*.c))
EX_COBJ   := $(EX_HELPERS:%.c=$(BUILD)/%.o)

# Tests: each tests/test_NAME.c is one cmocka suite; tests/support/*.c are shared helpers, and
# the examples' helpers (examples/support, examples/paper) are linked in too so that they can be tested.
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_COMMON := $(sort $(wildcard tests/support/*.c))
TEST_COBJ := $(TEST_COMMON:%.c=$(BUILD)/%.o)

.PHONY: all lib examples test run docs sanitize valgrind valgrind-run install uninstall clean check-cmocka \
	run-examples tsan fuzz fuzz-build fuzz-seeds bench api-md check-docs
.DELETE_ON_ERROR:
.SECONDARY:

all: lib examples

lib: $(STATIC) $(SHARED)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The vector kernels' loops start on 64-byte boundaries (gcc's default at -O2 pads to 16 bytes at
# most): their short hot loops then begin a window of the instruction fetch instead of straddling
# two. On the Zen 3 the family step ran 3.5% faster (docs/performance.md, "Loops aligned").
$(BUILD)/autograd/kernels_x86.o: EXTRA_CFLAGS += -falign-loops=64

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libbackprop.so.0 $(CFLAGS) -o $@ $^ $(LDLIBS)

examples: $(EX_BIN)

$(EXDIR)/%: $(BUILD)/examples/%.o $(EX_COBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(EXTRA_CFLAGS) -o $@ $< $(EX_COBJ) $(STATIC) $(LDLIBS)

run: examples/chain_rule
	./examples/chain_rule

# ---- docs -----------------------------------------------------------------------------------

# docs/api.md is written from the public headers, which are the manual, by scripts/gen-api-md.sh
# (POSIX sh and awk); it names on stderr any public function without a comment. check-docs
# fails when the checked-in docs/api.md is not byte for byte what the headers give, or when a
# function has no comment (.ci/run calls it).
API_MD_GEN := sh scripts/gen-api-md.sh $(HEADERS)

api-md:
	@mkdir -p $(BUILD)/docs
	$(API_MD_GEN) > $(BUILD)/docs/api.md
	@if cmp -s $(BUILD)/docs/api.md docs/api.md; then echo "docs/api.md is up to date"; \
	else cp $(BUILD)/docs/api.md docs/api.md && echo "wrote docs/api.md"; fi

check-docs:
	@mkdir -p $(BUILD)/docs
	@$(API_MD_GEN) > $(BUILD)/docs/api.md 2> $(BUILD)/docs/api.md.warnings
	@if [ -s $(BUILD)/docs/api.md.warnings ]; then cat $(BUILD)/docs/api.md.warnings; \
		echo "check-docs: every public function needs a comment in its header"; exit 1; fi
	@if ! cmp -s $(BUILD)/docs/api.md docs/api.md; then \
		diff -u docs/api.md $(BUILD)/docs/api.md | head -n 40; \
		echo "check-docs: docs/api.md differs from what the headers give: run make docs and commit it"; \
		exit 1; fi
	@echo "check-docs: docs/api.md is what the headers give"

# The neuron of examples/chain_rule as a picture: its tape written as Graphviz DOT, rendered to
# the SVG that docs/tutorial.md shows (where Graphviz's dot is installed).
docs: api-md $(EXDIR)/chain_rule
	@mkdir -p $(BUILD)/docs
	$(EXDIR)/chain_rule --dot $(BUILD)/docs/chain_rule.dot >/dev/null
	@if command -v dot >/dev/null 2>&1; then \
		dot -Tsvg $(BUILD)/docs/chain_rule.dot -o docs/chain_rule.svg && echo "wrote docs/chain_rule.svg"; \
	else \
		echo "Graphviz's dot is not installed (sudo apt-get install -y graphviz):"; \
		echo "wrote $(BUILD)/docs/chain_rule.dot only"; \
	fi

# ---- tests ----------------------------------------------------------------------------------

check-cmocka:
	@sh scripts/ensure-cmocka.sh "$(CC)"

# Tests link the examples' helpers too (examples/support, examples/paper), so that they can test them.
$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_COBJ) $(EX_COBJ) $(STATIC)
	$(CC) $(CFLAGS) $(EXTRA_CFLAGS) -o $@ $< $(TEST_COBJ) $(EX_COBJ) $(STATIC) -lcmocka $(LDLIBS)

# The bad-input suite is one process (its last test counts the calls all its cases made); its
# cases are in tests/badinput/*.c.
BADINPUT_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard tests/badinput/*.c)))
$(BUILD)/tests/test_badinput: $(BUILD)/tests/test_badinput.o $(BADINPUT_OBJ) $(TEST_COBJ) $(EX_COBJ) $(STATIC)
	$(CC) $(CFLAGS) $(EXTRA_CFLAGS) -o $@ $< $(BADINPUT_OBJ) $(TEST_COBJ) $(EX_COBJ) $(STATIC) -lcmocka $(LDLIBS)

test: check-cmocka
	@$(MAKE) --no-print-directory $(TEST_BIN) examples
	@BACKPROP_EXAMPLES=$(EXDIR) BACKPROP_LIB=$(STATIC) sh scripts/run-tests.sh $(TEST_BIN)
	@CC="$(CC)" CFLAGS="$(CFLAGS)" sh scripts/check-doc-examples.sh $(BUILD)
	@sh scripts/check-autograd-deps.sh $(BUILD)

SAN_FLAGS := -O2 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
sanitize: check-cmocka
	@$(MAKE) --no-print-directory BUILD=build-sanitize EXDIR=build-sanitize/examples \
		CFLAGS="$(SAN_FLAGS)" ARGS_FILE=scripts/sanitize-example-args test run-examples

# Every example with its default arguments, or those ARGS_FILE gives it (under RUNNER when set),
# with the time each takes.
run-examples: examples
	@RUNNER="$(RUNNER)" ARGS_FILE="$(ARGS_FILE)" sh scripts/run-examples.sh $(EX_BIN)

VALGRIND := valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99
# DWARF 4: the debug info every valgrind release reads.
valgrind: check-cmocka
	@$(MAKE) --no-print-directory BUILD=build-valgrind EXDIR=build-valgrind/examples \
		CFLAGS="-O1 -gdwarf-4" valgrind-run
# The suites and the examples run on the plain-C kernels (BACKPROP_ISA=generic): valgrind
# emulates each AVX2 FMA instruction lane by lane, which makes the vector kernels some 20 times
# slower under it than the plain ones (the family-trees suite alone took 10 minutes on a 2.25 GHz
# AVX2 machine). test_kernels still runs every vector table valgrind lets the CPU show (AVX2;
# valgrind hides AVX-512) under valgrind: it picks each table by name, whatever BACKPROP_ISA says.
valgrind-run: $(TEST_BIN) examples
	@BACKPROP_ISA=generic BACKPROP_EXAMPLES=$(EXDIR) BACKPROP_LIB=$(STATIC) RUNNER="$(VALGRIND)" sh scripts/run-tests.sh $(TEST_BIN)
	@BACKPROP_ISA=generic RUNNER="$(VALGRIND)" ARGS_FILE=scripts/valgrind-example-args sh scripts/run-examples.sh $(EX_BIN)

# Threads under ThreadSanitizer: tests/test_threads trains several models at once; any data race
# fails it. Run without address-space randomisation where setarch allows, as some kernels'
# randomisation is wider than older TSan runtimes can map.
TSAN_CC ?= clang
tsan: check-cmocka
	@$(MAKE) --no-print-directory CC=$(TSAN_CC) BUILD=build-tsan EXDIR=build-tsan/examples \
		CFLAGS="-O1 -g -fsanitize=thread" build-tsan/tests/test_threads build-tsan/tests/test_parallel
	@norand=""; if setarch "$$(uname -m)" -R true 2>/dev/null; then norand="setarch $$(uname -m) -R"; fi; \
		for t in test_threads test_parallel; do \
		BACKPROP_LIB=build-tsan/libbackprop.a TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
		$$norand ./build-tsan/tests/$$t || exit 1; done

# ---- fuzzing ---------------------------------------------------------------------------------
# Each fuzz/fuzz_NAME.c is a libFuzzer harness, built with clang and ASan + UBSan into
# build-fuzz/fuzz_NAME and started from the seed corpus fuzz/corpus/NAME.

FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_DIR     := build-fuzz
FUZZ_FLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all
FUZZ_SRC     := $(sort $(wildcard fuzz/fuzz_*.c))
# With the checks above clang 14 took 7.6 minutes over the vector kernels' file, most of the fuzz
# stage (a Zen 3, 3 December 2026): 14 s without sanitizers, 3.2 minutes without UBSan's
# pointer-overflow check, which instruments every address of their loops (inlined into many
# constant instances, for AVX2 and AVX-512). The kernels keep ASan and the rest of UBSan here;
# `make sanitize` runs them under gcc's UBSan, pointer-overflow included, in every test.
$(FUZZ_DIR)/autograd/kernels_x86.o: EXTRA_CFLAGS += -fno-sanitize=pointer-overflow
FUZZ_BIN     := $(FUZZ_SRC:fuzz/%.c=$(FUZZ_DIR)/%)

fuzz:
	@$(MAKE) --no-print-directory CC=$(FUZZ_CC) BUILD=$(FUZZ_DIR) EXDIR=$(FUZZ_DIR)/examples \
		CFLAGS="$(FUZZ_FLAGS)" fuzz-build
	@sh scripts/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

fuzz-build: $(FUZZ_BIN)
$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/fuzz/fuzz_%.o $(EX_COBJ) $(STATIC)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(EX_COBJ) $(STATIC) $(LDLIBS)

# The loader's seed files, saved from the harness's model (the output is committed).
fuzz-seeds: $(BUILD)/fuzz/make_seeds
	$(BUILD)/fuzz/make_seeds fuzz/corpus/load
$(BUILD)/fuzz/make_seeds: $(BUILD)/fuzz/make_seeds.o $(STATIC)
	$(CC) $(CFLAGS) $(EXTRA_CFLAGS) -o $@ $< $(STATIC) $(LDLIBS)

# ---- benchmark -------------------------------------------------------------------------------
# Builds bench/ and times every workload; PyTorch (python3-torch) and OpenBLAS (libopenblas) run
# the same work in the same invocation when installed: references only, loaded at run time, the
# library never links them. BENCH_ARGS passes options (e.g. BENCH_ARGS="--quick --only mlp").

BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/%.o)

bench: $(BUILD)/bench/bench
	$(BUILD)/bench/bench $(BENCH_ARGS)

$(BUILD)/bench/bench: $(BENCH_OBJ) $(STATIC)
	$(CC) $(CFLAGS) $(EXTRA_CFLAGS) -o $@ $(BENCH_OBJ) $(STATIC) $(LDLIBS) -ldl

# ---- MPI (optional) ----------------------------------------------------------------------------
# Data-parallel training across processes (mpi/, docs/scale-out.md). Neither the library nor the
# plain examples ever need MPI: only these targets use an MPI compiler (MPICC, mpicc by default).
#   make mpi         build/mpi/mpi_train (MPI), build/mpi/serial_train (its one-process
#                    reference, no MPI) and build/mpi/reduce_bench (the ordered sum's cost);
#                    skipped with a message where MPICC is not installed
#   make mpi-check   mpi_train on 1, 2 and 4 processes and serial_train must save the same weight
#                    file byte for byte, on a reduced Fashion-MNIST run (mpi/check.sh)
.PHONY: mpi mpi-check mpi-build
MPICC       ?= mpicc
# The examples' helpers the MPI programs use (the IDX reader, the command line).
MPI_SUPPORT := examples/support
MPI_HELPERS := $(filter %/idx.o %/cli.o,$(EX_COBJ))
MPI_NO_MPICC = echo "make $@: skipped: no MPI compiler ($(MPICC)) is installed. With Debian's Open MPI: sudo apt-get install -y libopenmpi-dev openmpi-bin"

mpi:
	@if command -v $(MPICC) >/dev/null 2>&1; then $(MAKE) --no-print-directory mpi-build; \
	else $(MPI_NO_MPICC); fi

mpi-build: $(BUILD)/mpi/mpi_train $(BUILD)/mpi/serial_train $(BUILD)/mpi/reduce_bench

mpi-check:
	@if command -v $(MPICC) >/dev/null 2>&1; then $(MAKE) --no-print-directory mpi-build examples && \
		sh mpi/check.sh $(BUILD)/mpi $(EXDIR); \
	else $(MPI_NO_MPICC); fi

$(BUILD)/mpi/dp_train.o $(BUILD)/mpi/serial_train.o: INCLUDES += -I$(MPI_SUPPORT)

# The files that include mpi.h are compiled by the MPI compiler.
$(BUILD)/mpi/mpi_train.o $(BUILD)/mpi/mpi_reduce.o $(BUILD)/mpi/reduce_bench.o: $(BUILD)/mpi/%.o: mpi/%.c
	@mkdir -p $(dir $@)
	$(MPICC) $(ALL_CFLAGS) -I$(MPI_SUPPORT) -c $< -o $@

$(BUILD)/mpi/mpi_train: $(BUILD)/mpi/mpi_train.o $(BUILD)/mpi/mpi_reduce.o $(BUILD)/mpi/dp_train.o \
		$(MPI_HELPERS) $(STATIC)
	$(MPICC) $(CFLAGS) $(EXTRA_CFLAGS) -o $@ $^ $(LDLIBS)

# The ordered sum against a plain MPI_Allreduce, alone (docs/scale-out.md).
$(BUILD)/mpi/reduce_bench: $(BUILD)/mpi/reduce_bench.o $(BUILD)/mpi/mpi_reduce.o \
		$(BUILD)/mpi/dp_train.o $(MPI_HELPERS) $(STATIC)
	$(MPICC) $(CFLAGS) $(EXTRA_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/mpi/serial_train: $(BUILD)/mpi/serial_train.o $(BUILD)/mpi/dp_train.o $(MPI_HELPERS) $(STATIC)
	$(CC) $(CFLAGS) $(EXTRA_CFLAGS) -o $@ $^ $(LDLIBS)

# ---- the playground (optional) -----------------------------------------------------------------
# The library compiled to WebAssembly from the same sources (clang --target=wasm32-wasi, Debian's
# wasi-libc and lld; the thread pool single-threaded there) with web/playground.c, and the static
# page web/index.html that calls it; Graphviz in wasm (npm @viz-js/viz) draws the tape. Neither
# the library nor any other target needs any of it (docs/playground.md).
#   make web        build/web: index.html, app.js, wasi.js, backprop.wasm, viz.js; prints sizes
#   make serve      serve build/web on http://127.0.0.1:$(WEB_PORT)/ (node)
#   make test-web   the page in headless Chromium (npm puppeteer-core, Debian's chromium): clicks
#                   through the steps and 500 sweeps of XOR and compares every number with the
#                   native build of the same C (build/web/playground_cli, plain-C kernels); and
#                   the size checks of a 32-bit build (web/test/limits32.c, under Node's WASI)
# Each skips with a message naming the packages to install when some are missing.
.PHONY: web web-build serve test-web
WASM_CC    ?= clang-14
WEB_PORT   ?= 8080
CHROMIUM   ?= /usr/bin/chromium
WEB_DIR    := $(BUILD)/web
WASM_OBJ   := $(LIB_SRC:%.c=$(WEB_DIR)/wasm/%.o) $(WEB_DIR)/wasm/web/playground.o
# 1 MiB of stack: wasm's default 64 KiB is too small for the kernels' stack buffers.
WASM_CFLAGS := --target=wasm32-wasi -std=c11 -Wall -Wextra -Wpedantic -O2 -MMD -MP -D_WASI_EMULATED_GETPID \
	$(INCLUDES) $(EXTRA_CFLAGS)
WASM_LDFLAGS := --target=wasm32-wasi -mexec-model=reactor -Wl,-z,stack-size=1048576 -Wl,--strip-debug
WEB_PAGE   := $(addprefix $(WEB_DIR)/,index.html app.js wasi.js)
WEB_TOOLS  = sh web/tools.sh "$(WASM_CC)"

web:
	@if $(WEB_TOOLS) build; then $(MAKE) --no-print-directory web-build; fi

web-build: $(WEB_DIR)/backprop.wasm $(WEB_DIR)/viz.js $(WEB_PAGE) $(WEB_DIR)/playground_cli
	@sh web/tools.sh "$(WASM_CC)" sizes $(WEB_DIR)

$(WEB_DIR)/wasm/%.o: %.c
	@mkdir -p $(dir $@)
	$(WASM_CC) $(WASM_CFLAGS) -c $< -o $@

$(WEB_DIR)/backprop.wasm: $(WASM_OBJ)
	$(WASM_CC) $(WASM_LDFLAGS) -o $@ $^ -lwasi-emulated-getpid

$(WEB_DIR)/viz.js: web/package-lock.json
	@mkdir -p $(dir $@)
	@[ -f web/node_modules/@viz-js/viz/dist/viz.js ] || (cd web && npm ci --no-audit --no-fund)
	cp web/node_modules/@viz-js/viz/dist/viz.js $@

$(WEB_DIR)/%: web/%
	@mkdir -p $(dir $@)
	cp $< $@

# The page's C side built natively: the reference the browser test compares the page with.
$(WEB_DIR)/playground_cli: $(BUILD)/web/playground.o $(BUILD)/web/playground_cli.o $(STATIC)
	$(CC) $(CFLAGS) $(EXTRA_CFLAGS) -o $@ $^ $(LDLIBS)

serve: web
	@if [ -f $(WEB_DIR)/backprop.wasm ]; then node web/serve.mjs $(WEB_DIR) $(WEB_PORT); fi

test-web:
	@if $(WEB_TOOLS) test "$(CHROMIUM)"; then $(MAKE) --no-print-directory web-build \
		$(WEB_DIR)/limits32.wasm && node --no-warnings web/test/limits32.mjs $(WEB_DIR)/limits32.wasm && \
		CHROMIUM="$(CHROMIUM)" BACKPROP_ISA=generic node web/test/run.mjs $(WEB_DIR); fi

# The library's size checks where long and size_t have 32 bits (web/test/limits32.c), as a
# WASI program run by Node.
$(WEB_DIR)/limits32.wasm: $(WEB_DIR)/wasm/web/test/limits32.o $(filter-out %/playground.o,$(WASM_OBJ))
	$(WASM_CC) --target=wasm32-wasi -Wl,-z,stack-size=1048576 -o $@ $^ -lwasi-emulated-getpid

# ---- install ---------------------------------------------------------------------------------

install: lib
	install -d $(DESTDIR)$(PREFIX)/include/backprop $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/backprop/
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/libbackprop.so.$(VERSION)
	ln -sf libbackprop.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libbackprop.so.0
	ln -sf libbackprop.so.0 $(DESTDIR)$(PREFIX)/lib/libbackprop.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' backprop.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/backprop.pc

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/include/backprop
	rm -f $(DESTDIR)$(PREFIX)/lib/libbackprop.* $(DESTDIR)$(PREFIX)/lib/pkgconfig/backprop.pc

clean:
	rm -rf build build-* $(EX_SRC:%.c=%)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
