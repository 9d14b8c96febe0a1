# tests/screens/cases/doctor.sh - the dtype doctor screen (sourced by
# tests/screens/run.sh).

if [ -f "$PWD/demo/model/model.safetensors.index.json" ]; then
	start 120 30 -- "$PWD/demo/model"
	wait_for "39 tensors"
	keys d
	if wait_for "2 errors, 0 warnings, 39 tensors checked" &&
		line 3 | grep -q "ERROR .*cast .*model.layers.1.mlp.down_proj.weight .*4 overflow to inf"; then
		ok "doctor: computed in the background, errors first"
	else
		no "doctor" "no findings" "$screen"
	fi
	keys Enter
	if wait_for "model.layers.1.mlp.down_proj.weight  BF16 [512, 1376]" &&
		wait_for "count   704512"; then
		ok "doctor: Enter opens the finding's histogram"
	else
		no "doctor: Enter" "no histogram" "$screen"
	fi
	keys Escape
	expect "doctor: Esc back to the findings, kept" "doctor: Esc" \
		"findings not kept" "2 errors, 0 warnings"
	keys Q
	wait_exit
fi
