# bench/scale.mk - `make bench-scale`: qscope on checkpoints of real size
# (issue 10).  Included by the Makefile; uses its BUILD, LIB, LIBS and
# QSCOPE.  The checkpoints (16.8 GB) are generated once into
# $(QS_SCALE_DIR) (default bench/scale-data, ignored by git) by
# bench/scale/gen.c and bench/scale/gen_torch.py, and reused while their
# stamps hold the generators' versions; bench/scale/run.py measures, prints
# a table and writes bench/results/scale.json.  Not part of `make bench`:
# the sources live under bench/scale/, which its wildcard does not reach.
#
#   make bench-scale [QS_SCALE_DIR=DIR] [SCALE_ARGS=--quick]
#   make bench-tui [QS_SCALE_DIR=DIR]

QS_SCALE_DIR ?= bench/scale-data
SCALE_OBJS = $(BUILD)/bench/scale/gen.o $(BUILD)/bench/scale/membw.o

$(BUILD)/scale-gen: $(BUILD)/bench/scale/gen.o $(LIB)
	$(QUIET_LD)$(CC) $(LDFLAGS) $(SAN) -o $@ $< $(LIB) $(LIBS)

$(BUILD)/scale-membw: $(BUILD)/bench/scale/membw.o
	$(QUIET_LD)$(CC) $(LDFLAGS) $(SAN) -o $@ $<

bench-scale: all $(BUILD)/scale-gen $(BUILD)/scale-membw
	@sh tools/deps test || { echo 'missing dependencies (see above)'; exit 1; }
	@mkdir -p bench/results
	./$(BUILD)/scale-gen '$(QS_SCALE_DIR)'
	/usr/bin/python3 bench/scale/gen_torch.py '$(QS_SCALE_DIR)'
	QS_SCALE_DIR='$(QS_SCALE_DIR)' /usr/bin/python3 bench/scale/run.py \
		--qscope ./$(QSCOPE) --membw ./$(BUILD)/scale-membw $(SCALE_ARGS)

# Key latency of the browser on the 7B checkpoint, idle and while every
# tensor's error is computed in the background.
bench-tui: all $(BUILD)/scale-gen
	./$(BUILD)/scale-gen '$(QS_SCALE_DIR)'
	/usr/bin/python3 bench/scale/tui_latency.py ./$(QSCOPE) \
		'$(QS_SCALE_DIR)/llama-7b'

-include $(SCALE_OBJS:.o=.d)

.PHONY: bench-scale bench-tui
