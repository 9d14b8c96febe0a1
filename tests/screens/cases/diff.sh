# tests/screens/cases/diff.sh - the diff screen, `qscope A B`: the pairs'
# figures as `qscope diff --json` gives them, the sort by error, the
# histogram of the difference, a model against itself, bad input
# (sourced by tests/screens/run.sh).

# the row of the cursor
diff_sel() { line $(($(fmt '#{cursor_y}') + 1)); }

f16=$QS_FIXTURES/gguf/tiny-llama-f16.gguf
q4=$QS_FIXTURES/gguf/tiny-llama-f16.Q4_K_M.gguf
if [ -f "$f16" ] && [ -f "$q4" ]; then
	# what the batch command says, laid out as the screen prints it:
	# the figures of blk.0.attn_q.weight, the pair of largest error, and
	# the figures of that pair
	"$QSCOPE" diff --json "$f16" "$q4" >"$tmp/diff.json"
	want=$("$PY" - "$tmp/diff.json" <<'EOF'
import json, math, sys
d = json.load(open(sys.argv[1]))

def fig(x, f):
    return "inf" if x is None else f % x   # null: infinite SQNR

def row(p):
    return "%9s  %8s  %9s  %10s" % (fig(p["rel_err"], "%.4g"),
                                    fig(p["sqnr_db"], "%.2f"),
                                    fig(p["cosine"], "%.6f"),
                                    fig(p["max_abs_err"], "%.4g"))

by = {p["a"]: p for p in d["pairs"]}
top = max(d["pairs"], key=lambda p: p["rel_err"])
print(row(by["blk.0.attn_q.weight"]))
print(top["a"])
print("%.4g" % top["rel_err"])
EOF
)
	want_q=$(printf '%s\n' "$want" | sed -n 1p)
	want_top=$(printf '%s\n' "$want" | sed -n 2p)
	want_top_err=$(printf '%s\n' "$want" | sed -n 3p)

	start 120 40 -- "$f16" "$q4"
	if wait_for "21 pairs" && wait_for "0 only in A" &&
		line 2 | grep -q "name .*dtype .*shape .*params .*rel err .*SQNR dB .*cosine .*max err"; then
		ok "diff: A B opens the diff screen, 21 pairs, the columns"
	else
		no "diff: opens" "no title or columns" "$screen"
	fi
	if wait_for "21 compared" &&
		printf '%s\n' "$screen" | grep "attn_q.weight" | head -n 1 |
		grep -q "F16→Q4_K  \[256, 256\]   65.5K  $want_q\$"; then
		ok "diff: blk.0.attn_q.weight as diff --json says ($want_q)"
	else
		no "diff: row figures" "want '$want_q'" "$screen"
	fi
	if line 3 | grep -q "▾ blk .*mixed .*18 pairs"; then
		ok "diff: groups sum their pairs"
	else
		no "diff: groups" "no blk group on line 3" "$screen"
	fi
	# the tree's rows behave as on the tensor screen (views/treeview.c):
	# fold, unfold, * for all, the flat list, search as you type, n, N,
	# a click
	keys Left
	if wait_for " 1/4 " && diff_sel | grep -q "▸ blk .*18 pairs"; then
		ok "diff: Left folds a group"
	else
		no "diff: Left" "blk not folded" "$screen"
	fi
	keys Right
	if wait_for " 1/24 " && diff_sel | grep -q "▾ blk" &&
		line 4 | grep -q "▾ 0 "; then
		ok "diff: Right unfolds it"
	else
		no "diff: Right" "blk not unfolded" "$screen"
	fi
	keys '*'
	if wait_for " 1/4 " && line 3 | grep -q "▸ blk" &&
		line 4 | grep -q "^   output.weight "; then
		ok "diff: * folds every group when none is closed"
	else
		no "diff: *" "not folded" "$screen"
	fi
	keys / ffn_do
	if wait_for "/ffn_do" && line 4 | grep -q "▾ 0 " &&
		line 10 | grep -q "^       ffn_down.weight "; then
		ok "diff: / searches as you type, the match's groups unfolded"
	else
		no "diff: search" "ffn_down.weight not shown" "$screen"
	fi
	keys Enter
	if wait_for " 8/15 " && diff_sel | grep -q "^       ffn_down.weight "; then
		ok "diff: Enter keeps the match selected"
	else
		no "diff: search Enter" "ffn_down.weight not selected" "$screen"
	fi
	keys n
	if wait_for " 18/" && diff_sel | grep -q "ffn_down.weight .*F16→Q6_K"; then
		ok "diff: n goes to the next match (blk.1)"
	else
		no "diff: n" "blk.1.ffn_down.weight not selected" "$screen"
	fi
	keys N
	if wait_for " 8/" && diff_sel | grep -q "ffn_down.weight .*F16→Q4_K"; then
		ok "diff: N goes back"
	else
		no "diff: N" "blk.0.ffn_down.weight not selected" "$screen"
	fi
	keys / zzz Enter
	if wait_for "no tensor name contains 'zzz'"; then
		ok "diff: a search without a match says so"
	else
		no "diff: no match" "" "$screen"
	fi
	keys T
	if wait_for "flat, by name" && diff_sel | grep -q "^ blk.0.ffn_down.weight "; then
		ok "diff: T lists the full names, the selection kept"
	else
		no "diff: T" "no flat list" "$screen"
	fi
	# a click (an xterm mouse report: button 1 pressed, then released,
	# at column 6 of the screen's fourth line) selects that row
	T send-keys -t "$S" -l "$(printf '\033[M %s%s\033[M#%s%s' '&' '$' '&' '$')"
	if wait_for " 2/21 " && diff_sel | grep -q "^ blk.0.attn_norm.weight "; then
		ok "diff: a click selects its row"
	else
		no "diff: click" "row 3 not selected" "$screen"
	fi
	keys T
	if wait_for "tree, by name" && diff_sel | grep -q "^       attn_norm.weight "; then
		ok "diff: T gives the tree back, the selection kept"
	else
		no "diff: back to the tree" "" "$screen"
	fi
	keys s s s T
	if wait_for "flat, by error" &&
		line 3 | grep -q "^ $want_top .* $want_top_err "; then
		ok "diff: s by error, largest first ($want_top)"
	else
		no "diff: sort by error" "want $want_top first" "$screen"
	fi
	keys S
	i=0
	while [ $i -lt 50 ] && ! line 23 | grep -q "^ $want_top "; do
		sleep 0.1
		grab
		i=$((i + 1))
	done
	if line 23 | grep -q "^ $want_top " && ! line 3 | grep -q "$want_top"; then
		ok "diff: S reverses (the largest error last)"
	else
		no "diff: S" "not reversed" "$screen"
	fi
	keys S g Enter
	if wait_for "difference B - A" && wait_for "rel err  $want_top_err" &&
		wait_for "B - A:"; then
		ok "diff: Enter opens the histogram of the difference"
	else
		no "diff: Enter" "no histogram with rel err $want_top_err" "$screen"
	fi
	keys '?'
	if wait_for "This screen (histogram)" && wait_for "more bins" &&
		! printf '%s\n' "$screen" | grep -q "compare"; then
		ok "diff: help on the difference's histogram"
	else
		no "diff: help" "" "$screen"
	fi
	keys Escape Escape
	if wait_for "flat, by error" && wait_gone "difference B - A"; then
		ok "diff: Esc goes back to the pairs"
	else
		no "diff: back" "not back on the pairs" "$screen"
	fi
	keys '?'
	if wait_for "This screen (diff)" && wait_for "sort by"; then
		ok "diff: help lists the screen's keys"
	else
		no "diff: help" "" "$screen"
	fi
	keys Escape q
	if wait_exit && [ "$status" = 0 ]; then
		ok "diff: q quits with status 0"
	else
		no "diff: q" "status '$status'" "$screen"
	fi
else
	skipped "diff" "no fixtures $f16, $q4"
fi

demo=$PWD/demo/model
if [ -f "$demo/model.safetensors.index.json" ]; then
	start 120 30 -- "$demo" "$demo"
	if wait_for "39 pairs" && wait_for "relative error 0 (equal)" &&
		[ "$(printf '%s\n' "$screen" | sed -n '3,29p' |
			grep -c '  0       inf   1.000000           0$')" -eq 25 ]; then
		ok "diff: the demo against itself, zero error on every row"
	else
		no "diff: demo" "not 25 rows of zero error" "$screen"
	fi
	keys Q
	wait_exit
	err=$("$QSCOPE" "$demo" "$tmp/no-such.gguf" 2>&1 </dev/null)
	rc=$?
	case $err in
	"qscope: '$tmp/no-such.gguf': "*)
		[ $rc -eq 2 ] && ok "diff: an unreadable B: one line, exit 2" ||
			no "diff: bad B" "exit $rc" ;;
	*) no "diff: bad B" "exit $rc: $err" ;;
	esac
fi

# ---- the histogram of a transposed pair's difference ----
# diff_shows_all FILE: the screen shows every line of FILE
diff_shows_all() {
	while read -r want; do
		printf '%s\n' "$screen" | grep -qF -- "$want" || return 1
	done <"$1"
}

# A: t.weight [40, 24]; B stores it [24, 40] with noise added to every row
# of A but the first, so exactly the 24 values of that row are equal when
# B is read back transposed.  numpy says what the panel must show.
"$PY" - "$tmp/ta.safetensors" "$tmp/tb.safetensors" >"$tmp/tdiff.txt" <<'PYEOF'
import json, struct, sys
import numpy as np

def write(path, name, x):
    h = json.dumps({name: {"dtype": "F32", "shape": list(x.shape),
                           "data_offsets": [0, x.nbytes]}}).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + x.tobytes())

def num(x):     # views/widgets.c w_num()
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        return "%.4g" % x
    return "%.3g" % x

rng = np.random.default_rng(3)
a = rng.standard_normal((40, 24)).astype(np.float32)
noise = (0.01 * rng.standard_normal((40, 24))).astype(np.float32)
noise[0] = 0
b = (a + noise).astype(np.float32)
write(sys.argv[1], "t.weight", a)
write(sys.argv[2], "t.weight", np.ascontiguousarray(b.T))
d = b - a          # float32, as the screen subtracts
print("min     " + num(d.min()))
print("max     " + num(d.max()))
print("equal   %d (%.2f%%)" % ((d == 0).sum(), 100.0 * (d == 0).sum() / d.size))
PYEOF
t_err=$("$QSCOPE" diff --json "$tmp/ta.safetensors" "$tmp/tb.safetensors" |
	"$PY" -c 'import json, sys; p = json.load(sys.stdin)["pairs"][0]; print(p["changed"], "%.4g" % p["rel_err"])')
start 120 40 -- "$tmp/ta.safetensors" "$tmp/tb.safetensors"
if wait_for "1 pair" && [ "${t_err%% *}" = transposed ]; then
	keys G Enter
	if wait_for "t.weight  F32 [40, 24]→[24, 40]  960 values" &&
		wait_for "B compared transposed" &&
		wait_for "rel err  ${t_err#* }" && wait_for "count   960" &&
		diff_shows_all "$tmp/tdiff.txt"; then
		ok "diff: a transposed pair's difference (min, max, 24 equal) as numpy says"
	else
		no "diff: transposed difference" "want rel err ${t_err#* }, $(tr '\n' ',' <"$tmp/tdiff.txt")" "$screen"
	fi
	keys Q
	wait_exit
else
	no "diff: transposed pair" "diff --json says '$t_err'" "$screen"
fi
