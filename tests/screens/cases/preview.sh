# tests/screens/cases/preview.sh - the quantization preview in the tree:
# targets from a plan, error and size live, the sweep, saving the plan
# (sourced by tests/screens/run.sh).

demo=$PWD/demo/model
if [ -f "$demo/model.safetensors.index.json" ]; then
	q=model.layers.0.self_attn.q_proj.weight
	# what `qscope try` says, as the screens print it
	want=$("$QSCOPE" try --json "$demo" q8_0 "$q" | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["tensors"][0]["rel_err"] * 100
print("%.2f%% %.3f%%" % (r, r))')
	want_row=${want% *}
	want_sweep=${want#* }
	printf '# test plan\n*.0.self_attn.q_proj.*  q8_0\n*.mlp.*  Q4_0\n*  keep\n' \
		>"$tmp/in.plan"

	start 150 40 -- "$demo"
	wait_for "39 tensors"
	keys P
	expect "preview: P asks for a plan file" "preview: P" "no prompt" \
		"load plan from [qscope.plan]:"
	keys "$tmp/in.plan" Enter
	if wait_for "loaded 3 rules" && wait_for "13 tensors quantized" &&
		line 2 | grep -q "format .*after .*error"; then
		ok "preview: a plan sets the targets; format, after, error columns"
	else
		no "preview: plan loaded" "no columns or message" "$screen"
	fi
	keys / 0.self_attn.q_proj Enter
	# the group row may show the figure before the search has moved
	# the selection to q_proj: poll the selected row itself
	q_row() {
		grab
		selected | grep -q "q_proj.weight .*q8_0 .*272.0 KiB .*$want_row"
	}
	if poll 50 q_row; then
		ok "preview: error of q8_0 on $q equals qscope try ($want_row)"
	else
		no "preview: row error" "want q8_0, 272.0 KiB, $want_row" "$screen"
	fi
	# the whole model: every error known, the status line says so
	if wait_gone "computing"; then
		ok "preview: every figure computed in the background"
	else
		no "preview: computing" "still computing" "$screen"
	fi
	if line 40 | grep -q "28.1 MiB -> .* bpw, error"; then
		ok "preview: status line with the bytes before and after"
	else
		no "preview: status line" "no totals" "$screen"
	fi
	keys t
	if wait_for "sweep  $q" && wait_for "26 of 26 computed" &&
		screen_grep -q "^ [ *] q8_0  .* 8.50 .*272.0 KiB *$want_sweep"; then
		ok "sweep: every format on the tensor, q8_0 as try says"
	else
		no "sweep" "no q8_0 row with $want_sweep" "$screen"
	fi
	if screen_grep -q "^ \* keep (stored) .*16.00"; then
		ok "sweep: the Pareto front marked"
	else
		no "sweep: Pareto" "no mark" "$screen"
	fi
	keys '?'
	if wait_for "This screen (sweep)"; then ok "sweep: help"; else no "sweep: help" "" "$screen"; fi
	keys Escape g Enter
	if wait_for "tree, by name" && selected | grep -q "q_proj.weight .*binary"; then
		ok "sweep: Enter sets the chosen format (the smallest: binary)"
	else
		no "sweep: Enter" "target not binary" "$screen"
	fi
	keys f
	if wait_for "q_proj.weight" && selected | grep -q "q_proj.weight .*keep"; then
		ok "f: the next format wraps around to keep"
	else
		no "f" "not keep after the last format" "$screen"
	fi
	keys F
	if selected | grep -q "binary" || { sleep 0.3; grab; selected | grep -q binary; }; then
		ok "F: the previous format"
	else
		no "F" "not back to binary" "$screen"
	fi
	keys p "$tmp/out.plan" Enter
	if wait_for "saved" && grep -q "binary" "$tmp/out.plan" &&
		grep -q "^\*  *keep" "$tmp/out.plan"; then
		ok "p: the targets saved as a plan"
	else
		no "p" "plan not saved: $(cat "$tmp/out.plan" 2>&1)" "$screen"
	fi
	keys Q
	wait_exit
	# the saved plan gives the same targets through the batch command
	if "$QSCOPE" plan "$tmp/out.plan" "$demo" | grep -q "$q .*binary"; then
		ok "p: the saved plan reads back with qscope plan"
	else
		no "p: plan" "qscope plan does not give binary to $q"
	fi
else
	skipped "preview" "no demo at $demo (run make)"
fi

# ---- writing from the browser ----

if [ -f "$demo/model.safetensors.index.json" ]; then
	mkdir -p "$tmp/w"
	cp "$demo"/* "$tmp/w/"
	printf '*.mlp.* int4-g128\n*.self_attn.* fp8-e4m3\n* keep\n' >"$tmp/w.plan"
	before=$(cat "$tmp/w/"* | cksum)
	start 120 30 -- "$tmp/w"
	wait_for "39 tensors"
	keys P "$tmp/w.plan" Enter
	wait_for "loaded 3 rules"
	keys w
	expect "w: asks where, beside the input" "w" "no prompt" \
		"write safetensors to [$tmp/w-qscope/]:"
	keys Enter
	if wait_for "wrote 4 files" && wait_for "verified: 9830400 values" &&
		[ -f "$tmp/w-qscope/model.safetensors.index.json" ] &&
		[ "$(cat "$tmp/w/"* | cksum)" = "$before" ]; then
		ok "w: written, shards like the input, verified, input unchanged"
	else
		no "w: write" "not written or not verified" "$screen"
	fi
	keys Escape w Enter
	if wait_for "exists" && wait_for "Enter replaces it"; then
		ok "w: an existing target needs a confirmation"
	else
		no "w: exists" "no question" "$screen"
	fi
	keys Escape
	if wait_gone "exists" && wait_for "39 tensors"; then
		ok "w: Esc keeps the existing target"
	else
		no "w: Esc" "not back" "$screen"
	fi
	keys Q
	wait_exit
	# the output opens, its quantized weights as logical tensors
	if "$QSCOPE" list "$tmp/w-qscope" | grep -q "mlp.gate_proj.weight .*ct-int4-g128"; then
		ok "w: the output opens with its int4 layout read back"
	else
		no "w: reopen" "$("$QSCOPE" list "$tmp/w-qscope" 2>&1 | head -5)"
	fi
fi

# ---- --plan at start ----

if [ -f "$demo/model.safetensors.index.json" ]; then
	start 150 40 -- --plan "$tmp/in.plan" "$demo"
	expect "--plan: the tree starts with the plan's targets" "--plan" \
		"no targets" "loaded 3 rules" 2 "format .*after .*error"
	keys Q
	wait_exit
	printf 'x q4k\n' >"$tmp/bad.plan"
	err=$("$QSCOPE" --plan "$tmp/bad.plan" "$demo" 2>&1 </dev/null)
	rc=$?
	case $err in
	*"bad.plan:1: unknown scheme 'q4k'"*)
		[ $rc -eq 2 ] && ok "--plan: a bad plan is refused before the screen, exit 2" ||
			no "--plan bad" "exit $rc" ;;
	*) no "--plan bad" "exit $rc: $err" ;;
	esac
fi
