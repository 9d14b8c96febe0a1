# qscope - a plain Makefile.  `make V=1` shows every command.
#
#   make            build ./qscope and the demo checkpoint (demo/model)
#   make demo       build, then open qscope on the demo checkpoint
#   make check      build and run every test
#   make check-asan the same under AddressSanitizer and UBSan (in build-asan/)
#   make check-valgrind  the unit tests under valgrind (memcheck, leaks)
#   make install    PREFIX=/usr/local DESTDIR= : binary, man page, demo
#   make uninstall  remove what install put there
#   make clean

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DATADIR    ?= $(PREFIX)/share/qscope
PKG_CONFIG ?= pkg-config
INSTALL    ?= install
CFLAGS     ?= -O2 -g
BUILD      ?= build
VERSION     = 0.1.0

# Missing build dependencies are named, and installed with apt-get when we
# run as root on Debian (tools/deps prints what it runs).  Not for targets
# that build nothing.
NODEPS_GOALS = clean uninstall
ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
DEPS_STATUS := $(shell sh tools/deps build; echo $$?)
ifneq ($(DEPS_STATUS),0)
$(error missing build dependencies (see above))
endif
endif

CORE_PKGS = jansson libarchive libzstd zlib
UI_PKGS   = ncursesw
CORE_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(CORE_PKGS) 2>/dev/null)
UI_CFLAGS   := $(shell $(PKG_CONFIG) --cflags $(UI_PKGS) 2>/dev/null)
LIBS        := $(shell $(PKG_CONFIG) --libs $(UI_PKGS) $(CORE_PKGS) 2>/dev/null) -lm -lpthread

# Project flags live apart from CFLAGS, so `make CFLAGS=...` cannot drop
# them.  formats/ and quant/ build without the curses flags; their feature
# macros are set here.  -ffp-contract=off: fused multiply-adds would change
# quantized bytes (FORMATS.md 2.5.0).
QS_CFLAGS = -std=c11 -Wall -Wextra -Werror -MMD -MP -I. \
	-D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -ffp-contract=off \
	-DQSCOPE_VERSION='"$(VERSION)"' $(CORE_CFLAGS) \
	-fstack-protector-strong \
	$(if $(findstring -O0,$(CFLAGS)),,-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)

QUIET_CC = $(if $(V),,@echo '  CC    $@';)
QUIET_LD = $(if $(V),,@echo '  LD    $@';)
QUIET_GEN = $(if $(V),,@echo '  GEN   $@';)

CORE_SRCS = $(wildcard formats/*.c quant/*.c)
UI_SRCS   = $(filter-out tui/main.c,$(wildcard tui/*.c views/*.c))
TEST_SRCS = $(wildcard tests/unit/*.c)
BENCH_SRCS = $(wildcard bench/*.c)

CORE_OBJS = $(CORE_SRCS:%.c=$(BUILD)/%.o)
UI_OBJS   = $(UI_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ  = $(BUILD)/tui/main.o
TEST_OBJS = $(TEST_SRCS:%.c=$(BUILD)/%.o)
BENCH_BINS = $(BENCH_SRCS:bench/%.c=$(BUILD)/bench-%)
ALL_OBJS  = $(CORE_OBJS) $(UI_OBJS) $(MAIN_OBJ) $(TEST_OBJS) $(BUILD)/demo/mkdemo.o \
	$(BENCH_SRCS:%.c=$(BUILD)/%.o)

# The normal build puts the program at the top; other builds (check-asan)
# keep theirs in their build folder.
QSCOPE = $(if $(filter build,$(BUILD)),qscope,$(BUILD)/qscope)
LIB    = $(BUILD)/libqscope.a

DEMO_STAMP = demo/model/model.safetensors.index.json

all: $(QSCOPE) $(DEMO_STAMP)

$(QSCOPE): $(MAIN_OBJ) $(LIB)
	$(QUIET_LD)$(CC) $(LDFLAGS) $(SAN) -o $@ $(MAIN_OBJ) $(LIB) $(LIBS)

$(LIB): $(CORE_OBJS) $(UI_OBJS)
	@rm -f $@
	$(if $(V),,@echo '  AR    $@';)$(AR) rcs $@ $^

$(BUILD)/tui/%.o $(BUILD)/views/%.o: QS_CFLAGS += $(UI_CFLAGS)
$(BUILD)/tests/%.o: QS_CFLAGS += $(UI_CFLAGS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(QUIET_CC)$(CC) $(QS_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(SAN) -c -o $@ $<

# The program finds an installed demo through DATADIR: rebuild main.o when
# PREFIX or DATADIR change, even at `make install PREFIX=...`.
$(MAIN_OBJ): QS_CFLAGS += -DDATADIR='"$(DATADIR)"'
$(MAIN_OBJ): $(BUILD)/datadir
$(BUILD)/datadir: FORCE
	@mkdir -p $(@D)
	@echo '$(DATADIR)' | cmp -s - $@ || echo '$(DATADIR)' > $@

$(BUILD)/unit-tests: $(TEST_OBJS) $(LIB)
	$(QUIET_LD)$(CC) $(LDFLAGS) $(SAN) -o $@ $(TEST_OBJS) $(LIB) $(LIBS)

$(BUILD)/mkdemo: $(BUILD)/demo/mkdemo.o $(LIB)
	$(QUIET_LD)$(CC) $(LDFLAGS) $(SAN) -o $@ $< $(LIB) $(LIBS)

# The demo checkpoint is generated, never committed.
$(DEMO_STAMP): $(BUILD)/mkdemo
	$(QUIET_GEN)$(BUILD)/mkdemo demo/model

# Benchmarks: each bench/NAME.c is a program that prints its own table
# (and writes bench/results/NAME.json); bench/run drives them and the
# numpy peers.
$(BUILD)/bench-%: $(BUILD)/bench/%.o $(LIB)
	$(QUIET_LD)$(CC) $(LDFLAGS) $(SAN) -o $@ $< $(LIB) $(LIBS)

bench: all $(BENCH_BINS)
	@sh tools/deps test || { echo 'missing dependencies (see above)'; exit 1; }
	@mkdir -p bench/results
	@for b in $(BENCH_BINS); do echo "== $$b"; ./$$b || exit 1; done
	@for p in bench/*.py; do [ -f "$$p" ] || continue; \
		echo "== $$p"; /usr/bin/python3 "$$p" || exit 1; done

demo: all
	./qscope

check: all $(BUILD)/unit-tests
	@sh tools/deps test || { echo 'missing test dependencies (see above)'; exit 1; }
	@QSCOPE=./$(QSCOPE) UNIT_TESTS=./$(BUILD)/unit-tests MKDEMO=./$(BUILD)/mkdemo sh tests/run

# A smaller large archive member in the readers suite: the same paths, a
# fraction of the time under the sanitizers.
check-asan:
	QS_READERS_BIG_MB=120 $(MAKE) BUILD=build-asan \
		SAN='-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer' \
		check

# Memcheck sees what the sanitizers do not (reads of uninitialised memory)
# in the normal build; "definite" leaks fail the run.
VALGRIND = valgrind -q --error-exitcode=1 --leak-check=full \
	--errors-for-leak-kinds=definite --show-leak-kinds=definite

check-valgrind: $(BUILD)/unit-tests
	@sh tools/deps valgrind || { echo 'missing dependencies (see above)'; exit 1; }
	@QS_FIXTURES=$${QS_FIXTURES:-../shared/fixtures} $(VALGRIND) ./$(BUILD)/unit-tests || \
		{ echo 'valgrind: errors above (or a failed test)'; exit 1; }

install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DATADIR)/demo
	$(INSTALL) -m 0755 qscope $(DESTDIR)$(BINDIR)/qscope
	$(INSTALL) -m 0644 man/qscope.1 $(DESTDIR)$(MANDIR)/man1/qscope.1
	$(INSTALL) -m 0644 demo/model/* $(DESTDIR)$(DATADIR)/demo/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/qscope $(DESTDIR)$(MANDIR)/man1/qscope.1
	rm -rf $(DESTDIR)$(DATADIR)/demo
	-rmdir $(DESTDIR)$(DATADIR) 2>/dev/null

clean:
	rm -rf build build-asan qscope demo/model

-include $(ALL_OBJS:.o=.d)

# fuzz and lint targets (clang libFuzzer harnesses, static analysis)
-include tests/fuzz/fuzz.mk
# make bench-scale: 7B-sized synthetic checkpoints (bench/scale/)
-include bench/scale.mk

.PHONY: all demo bench check check-asan check-valgrind install uninstall clean FORCE
.DELETE_ON_ERROR:
