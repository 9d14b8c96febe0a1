# tests/screens/cases/badge.sh - the dtype doctor's badges in the tensor
# tree: '!' an error, '?' a warning, on the tensor and the groups above it
# (sourced by tests/screens/run.sh).

demo=$PWD/demo/model
if [ -f "$demo/model.safetensors.index.json" ]; then
	start 120 40 -- "$demo"
	expect "badge: the title says what the doctor found" "badge: title" \
		"no doctor summary" "doctor: 2 errors (d)"
	keys / layers.1.mlp.down Enter
	if wait_for "down_proj.weight" &&
		selected | grep -q "^! *down_proj.weight .*BF16 .*\[512, 1376\]"; then
		ok "badge: layer 1's down_proj (overflows FP16) marked '!'"
	else
		no "badge: down_proj" "no '!' on the selected row" "$screen"
	fi
	keys / layers.2.self_attn.v Enter
	if wait_for "v_proj.weight" && selected | grep -q "^! *v_proj.weight"; then
		ok "badge: layer 2's v_proj (tiny values) marked '!'"
	else
		no "badge: v_proj" "no '!' on the selected row" "$screen"
	fi
	# the groups above them, and no other row
	marked=$(printf '%s\n' "$screen" | sed -n '3,39p' | grep -c '^!')
	if screen_grep -q "^!.*▾ model " &&
		screen_grep -q "^!  *▾ 1 " &&
		screen_grep -q "^!  *▾ self_attn " &&
		! screen_grep -q "^!  *▾ 0 " &&
		! screen_grep -q "^!  *k_proj"; then
		ok "badge: groups above a finding marked, others not ($marked rows)"
	else
		no "badge: groups" "wrong rows marked" "$screen"
	fi
	keys d
	expect "badge: d shows the same report at once" "badge: d" "no report" \
		"2 errors, 0 warnings, 39 tensors checked"
	keys Q
	wait_exit
fi

clean=$QS_FIXTURES/gguf/tiny-llama-f16.gguf
if [ -f "$clean" ]; then
	start 120 40 -- "$clean"
	wait_for "21 tensors"
	keys d
	wait_for "0 errors, 0 warnings, 21 tensors checked"
	keys Escape
	if wait_for "1/" && ! screen_grep -q "doctor:" &&
		! printf '%s\n' "$screen" | sed -n '3,39p' | grep -q '^[!?]'; then
		ok "badge: a clean GGUF shows none"
	else
		no "badge: clean" "badges or no summary" "$screen"
	fi
	keys Q
	wait_exit
else
	skipped "badge: clean" "no fixture $clean"
fi

warn=$QS_FIXTURES/gguf/tiny-llama-bf16.gguf
if [ -f "$warn" ]; then
	start 120 40 LC_ALL=C -- "$warn"
	if wait_for "doctor: 2 warnings (d)" &&
		screen_grep -q "^?- blk" &&
		! printf '%s\n' "$screen" | sed -n '3,39p' | grep -q '^!'; then
		ok "badge: warnings marked '?' (ASCII)"
	else
		no "badge: warnings" "no '?' rows" "$screen"
	fi
	keys Q
	wait_exit
fi
