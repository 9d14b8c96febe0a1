# tests/fuzz/fuzz.mk - fuzzing and static analysis, included by the Makefile.
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZERS='gguf npy']
#                    build every libFuzzer harness (tests/fuzz/fuzz_NAME.c)
#                    with clang and ASan+UBSan into build-fuzzer/, then run
#                    each for FUZZ_SECONDS on a copy of its seed corpus
#                    (tests/fuzz/corpus/NAME/, plus tests/fuzz/regress/NAME/)
#                    with its dictionary (tests/fuzz/NAME.dict), one after
#                    the other; a crash stops the run and is left in
#                    build-fuzzer/crash-NAME-*.  The executions reached are
#                    summed up in build-fuzzer/summary.
#   make fuzz-replay run every harness once over its corpus and regression
#                    inputs, without fuzzing (a quick check)
#   make lint        cppcheck on formats/ quant/ tui/ views/ (see LINT_FLAGS);
#                    fails on any finding
#
# Needs clang and its runtimes (Debian: clang, libclang-rt-14-dev) and
# cppcheck for lint.  Nothing here runs in the normal build or in
# `make check`.

FUZZ_CC      ?= clang
FUZZ_BUILD   ?= build-fuzzer
FUZZ_SECONDS ?= 60
FUZZ_SAN     ?= -fsanitize=address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer
FUZZ_FLAGS   ?= -O1 -g
# Passed to every harness run; -rss_limit_mb also bounds single mallocs.
FUZZ_RUN_FLAGS ?= -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1
FUZZERS      ?= $(patsubst tests/fuzz/fuzz_%.c,%,\
		$(wildcard tests/fuzz/fuzz_*.c))

FUZZ_OBJS = $(CORE_SRCS:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_BINS = $(FUZZERS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_LIBS = $(shell $(PKG_CONFIG) --libs $(CORE_PKGS) 2>/dev/null) -lm -lpthread

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(QUIET_CC)$(FUZZ_CC) $(QS_CFLAGS) $(CPPFLAGS) $(FUZZ_FLAGS) $(FUZZ_SAN) \
		-fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/libqscope-fuzz.a: $(FUZZ_OBJS)
	@rm -f $@
	$(if $(V),,@echo '  AR    $@';)$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/harness.h \
		$(FUZZ_BUILD)/libqscope-fuzz.a
	$(QUIET_LD)$(FUZZ_CC) $(filter-out -MMD -MP,$(QS_CFLAGS)) $(FUZZ_FLAGS) \
		$(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< \
		$(FUZZ_BUILD)/libqscope-fuzz.a $(FUZZ_LIBS)

fuzz-check-tools:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { \
		echo 'make fuzz needs clang (Debian: clang libclang-rt-14-dev)'; \
		exit 1; }

fuzz-build: fuzz-check-tools
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

# Each harness fuzzes a copy of its corpus (new inputs land in the copy,
# never in the tree); the regression inputs are read as extra seeds.
fuzz: fuzz-build
	@rm -f $(FUZZ_BUILD)/summary
	@for f in $(FUZZERS); do \
		c=$(FUZZ_BUILD)/corpus/$$f; rm -rf $$c; mkdir -p $$c; \
		cp tests/fuzz/corpus/$$f/* $$c/ 2>/dev/null; \
		r=; [ -d tests/fuzz/regress/$$f ] && r=tests/fuzz/regress/$$f; \
		d=; [ -f tests/fuzz/$$f.dict ] && d=-dict=tests/fuzz/$$f.dict; \
		echo "== fuzz_$$f: $(FUZZ_SECONDS) s"; \
		./$(FUZZ_BUILD)/fuzz_$$f $(FUZZ_RUN_FLAGS) $$d \
			-max_total_time=$(FUZZ_SECONDS) \
			-artifact_prefix=$(FUZZ_BUILD)/crash-$$f- \
			$$c $$r > $(FUZZ_BUILD)/fuzz_$$f.log 2>&1; \
		rc=$$?; \
		n=$$(sed -n 's/^stat::number_of_executed_units: *//p' \
			$(FUZZ_BUILD)/fuzz_$$f.log); \
		tail -n 3 $(FUZZ_BUILD)/fuzz_$$f.log; \
		printf '%-12s %12s executions  exit %s\n' $$f "$${n:-?}" $$rc \
			>> $(FUZZ_BUILD)/summary; \
		if [ $$rc -ne 0 ]; then \
			cat $(FUZZ_BUILD)/summary; \
			echo "fuzz_$$f failed: see $(FUZZ_BUILD)/fuzz_$$f.log"; \
			exit 1; \
		fi; \
	done; cat $(FUZZ_BUILD)/summary

fuzz-replay: fuzz-build
	@for f in $(FUZZERS); do \
		r=; [ -d tests/fuzz/regress/$$f ] && r=tests/fuzz/regress/$$f; \
		echo "== fuzz_$$f: replay"; \
		./$(FUZZ_BUILD)/fuzz_$$f -runs=0 tests/fuzz/corpus/$$f $$r \
			> $(FUZZ_BUILD)/replay_$$f.log 2>&1 || { \
			cat $(FUZZ_BUILD)/replay_$$f.log; exit 1; }; \
		tail -n 1 $(FUZZ_BUILD)/replay_$$f.log; \
	done

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

clean: fuzz-clean

# Static analysis.  Style checks are left to review; everything cppcheck
# calls a warning, a portability or a performance problem fails the build.
# Findings judged false positives are listed, each with its reason, in
# tests/fuzz/lint.supp.
CPPCHECK   ?= cppcheck
LINT_SRCS   = $(wildcard formats/*.c quant/*.c tui/*.c views/*.c)
LINT_FLAGS ?= --std=c11 --enable=warning,portability,performance \
	--error-exitcode=1 --inline-suppr --quiet \
	--suppress=missingIncludeSystem --suppress=unmatchedSuppression \
	--suppressions-list=tests/fuzz/lint.supp \
	-I. -D__GNUC__ -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE

lint:
	@command -v $(CPPCHECK) >/dev/null 2>&1 || { \
		echo 'make lint needs cppcheck (Debian: cppcheck)'; exit 1; }
	$(CPPCHECK) $(LINT_FLAGS) $(LINT_SRCS)

-include $(wildcard $(FUZZ_BUILD)/formats/*.d $(FUZZ_BUILD)/quant/*.d)

.PHONY: fuzz fuzz-build fuzz-replay fuzz-check-tools fuzz-clean lint
