# tests/screens/cases/budget.sh - a byte budget in the tree (B), the error
# as SQNR (e), and the compare screen from a row (c) (sourced by
# tests/screens/run.sh).

demo=$PWD/demo/model
if [ -f "$demo/model.safetensors.index.json" ]; then
	printf '*.0.self_attn.q_proj.*  q8_0\n*.mlp.*  q4_0\n*  keep\n' >"$tmp/budget-in.plan"
	start 120 40 -- "$demo"
	wait_for "39 tensors"
	keys B
	expect "budget: B asks for a size" "budget: B" "no prompt" \
		"budget (3.5G, 900M, 4.25 bpw):"
	keys 3.5X Enter
	expect "budget: a bad size is refused on the status line" \
		"budget: bad size" "no message" \
		"budget '3.5X': unknown unit (3.5G, 900M, 4.25 bpw)"
	keys B 10M Enter
	if wait_for "budget 10.0 MiB: computing" && wait_for " pairs (Esc stops)"; then
		ok "budget: every pair computed, with progress"
	else
		no "budget: progress" "no progress line" "$screen"
	fi
	if wait_long " bpw, error " &&
		line 40 | grep -q "budget 10.0 MiB: [0-9.]* MiB, [0-9.]* bpw, error " &&
		line 2 | grep -q "format .*after .*error"; then
		ok "budget: targets set within the budget"
	else
		no "budget: result" "no result line" "$screen"
	fi
	shown=$(line 40 | sed -n 's/.*budget 10.0 MiB: \([0-9.]*\) MiB, \([0-9.]*\) bpw.*/\1 \2/p')
	keys p "$tmp/budget.plan" Enter
	wait_for "saved"
	keys Q
	wait_exit
	# the plan written gives the same total through the batch command,
	# within 10 MiB, and the figures the status line showed
	tot=$("$QSCOPE" plan "$tmp/budget.plan" "$demo" | sed -n 's/^total: .* -> \([0-9]*\) bytes .* -> \([0-9.]*\) bits per weight$/\1 \2/p')
	if [ -n "$tot" ] && [ -n "$shown" ] && "$PY" - "$tot" "$shown" <<'PYEOF'
import sys
b, bpw = sys.argv[1].split()
mib, sbpw = sys.argv[2].split()
b = int(b)
assert b <= 10 * 1024 * 1024, b
assert "%.1f" % (b / 1048576) == mib, (b, mib)
assert "%.2f" % float(bpw) == sbpw, (bpw, sbpw)
PYEOF
	then
		ok "budget: the saved plan totals $tot bytes, within 10 MiB, as shown"
	else
		no "budget: plan" "qscope plan says '$tot', the screen '$shown'"
	fi

	# too small: said, targets unchanged; Esc stops the computation
	start 120 40 -- "$demo"
	wait_for "39 tensors"
	keys B '1 bpw' Enter
	if wait_for "budget 1 bpw: computing"; then
		keys Escape
		if wait_for "budget stopped: " && wait_for " pairs computed"; then
			ok "budget: Esc stops, pairs known kept"
		else
			no "budget: Esc" "not stopped" "$screen"
		fi
	else
		no "budget: Esc" "no progress line" "$screen"
	fi
	keys B '1 bpw' Enter
	if wait_long "cannot be met: the smallest is" &&
		line 40 | grep -q "budget 1 bpw cannot be met: the smallest is [0-9.]* MiB; targets unchanged" &&
		! line 2 | grep -q "format"; then
		ok "budget: one that cannot be met says the smallest size"
	else
		no "budget: too small" "no message, or targets set" "$screen"
	fi

	# e: SQNR in dB, and back
	keys P "$tmp/budget-in.plan" Enter
	wait_for "loaded 3 rules"
	keys e
	expect "e: the error column as SQNR in dB" "e" "no SQNR column" \
		"error shown as SQNR in dB" 2 "after  *SQNR dB"
	keys / 0.self_attn.q_proj Enter
	want_db=$("$QSCOPE" try --json "$demo" q8_0 model.layers.0.self_attn.q_proj.weight |
		"$PY" -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["tensors"][0]["sqnr_db"])')
	if wait_for "q_proj.weight" && selected | grep -Eq "q_proj.weight .*q8_0 .*272.0 KiB +$want_db( |$)" &&
		line 40 | grep -q "bpw, SQNR [0-9.]* dB"; then
		ok "e: SQNR of q8_0 on q_proj as qscope try says ($want_db dB)"
	else
		no "e: value" "want $want_db dB on the q_proj row" "$screen"
	fi
	keys e
	expect "e: back to relative error" "e: back" "no error column" \
		"error shown as relative error" 2 "after  *error"

	# c: the compare screen, on a tensor only
	keys g j c
	expect "c: on a group, a message" "c: group" "no message" \
		"compare works on one tensor: select a tensor"
	keys / 0.self_attn.q_proj Enter c
	expect "c: the compare screen with the tensor's target" "c: compare" \
		"no compare screen for q_proj with q8_0" \
		"model.layers.0.self_attn.q_proj.weight  BF16 [512, 512] -> q8_0"
	keys Escape / lm_head Enter c
	if wait_for "lm_head.weight  BF16 [2048, 512] -> q4_k"; then
		keys Escape
		expect "c: a kept tensor compared with q4_k, which the status line names" \
			"c: keep" "no message" \
			"compared with q4_k (the target is keep)"
	else
		no "c: keep" "no compare screen for lm_head with q4_k" "$screen"
	fi
	keys Q
	wait_exit
else
	skipped "budget" "no demo at $demo (run make)"
fi
