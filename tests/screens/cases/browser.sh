# tests/screens/cases/browser.sh - the tensor tree and the histogram screen
# (sourced by tests/screens/run.sh, whose functions it uses).

demo=$PWD/demo/model

# The row the cursor is parked on (the selected one), as text.
selected() { line $(($(fmt '#{cursor_y}') + 1)); }

# ---- the tree on the demo ----

if [ -f "$demo/model.safetensors.index.json" ]; then
	start 120 40 -- "$demo"
	if wait_for "39 tensors" && wait_for "tree, by name" &&
		line 3 | grep -q "^   lm_head.weight .*BF16 .*\[2048, 512\]" &&
		line 4 | grep -q "^[ !?]▾ model .*BF16 .*38 tensors" &&
		printf '%s\n' "$screen" | grep -q "^       ▸ mlp .*3 tensors .*4.0 MiB"; then
		ok "tree: groups by dotted names, sums, opened to fit"
	else
		no "tree" "first screen" "$screen"
	fi
	# a search selects a tensor, unfolding its groups; Left folds the
	# group that holds it, Right unfolds it again
	keys / 0.mlp.down Enter
	if wait_for "down_proj.weight" && selected | grep -q "down_proj.weight"; then
		ok "search: selects the tensor, its groups unfolded"
	else
		no "search unfolds" "down_proj.weight not selected" "$screen"
	fi
	keys Left
	if wait_gone "down_proj.weight" && selected | grep -q "▸ mlp"; then
		ok "tree: Left on a tensor folds its group"
	else
		no "tree: Left" "mlp not folded" "$screen"
	fi
	keys Right
	if wait_for "down_proj.weight" && selected | grep -q "▾ mlp" &&
		printf '%s\n' "$screen" | grep -q "^           down_proj.weight .*\[512, 1376\]"; then
		ok "tree: Right unfolds a group"
	else
		no "tree: Right" "mlp not unfolded" "$screen"
	fi
	keys Enter
	if wait_gone "down_proj.weight" && selected | grep -q "▸ mlp"; then
		ok "tree: Enter folds an open group"
	else
		no "tree: Enter" "mlp not folded" "$screen"
	fi
	keys '*'
	if wait_for "/53" && printf '%s\n' "$screen" | grep -q "down_proj.weight"; then
		ok "tree: * unfolds every group (53 rows)"
	else
		no "tree: *" "not every group open" "$screen"
	fi
	# search as you type (the cursor is on the prompt meanwhile), then
	# Enter keeps the match; n, N
	keys g / down_proj
	if wait_for "/down_proj" && printf '%s\n' "$screen" | grep -q "down_proj.weight"; then
		ok "search: incremental, match shown while typing"
	else
		no "search" "no match shown while typing" "$screen"
	fi
	keys Enter
	wait_gone "/down_proj"
	p1=$(line 40 | grep -o '[0-9]*/53')
	if selected | grep -q "down_proj.weight"; then
		ok "search: Enter keeps the match selected ($p1)"
	else
		no "search: Enter" "no match selected" "$screen"
	fi
	keys n
	sleep 0.3
	grab
	p2=$(line 40 | grep -o '[0-9]*/53')
	if [ -n "$p1" ] && [ "$p1" != "$p2" ] && selected | grep -q "down_proj.weight"; then
		ok "search: n goes to the next match ($p1 -> $p2)"
	else
		no "search: n" "from $p1 to $p2" "$screen"
	fi
	keys N
	if wait_for "$p1"; then
		ok "search: N goes back"
	else
		no "search: N" "not back at $p1" "$screen"
	fi
	keys / zzzz Enter
	if wait_for "no tensor name contains 'zzzz'"; then
		ok "search: no match says so"
	else
		no "search: no match" "no message" "$screen"
	fi
	# sort by size: siblings largest first
	keys s
	if wait_for "tree, by size" && line 3 | grep -q "▾ model" &&
		line 4 | grep -q "▾ layers"; then
		ok "sort: s sorts by size"
	else
		no "sort" "not by size" "$screen"
	fi
	keys s
	if wait_for "tree, by dtype"; then ok "sort: then by dtype"; else no "sort dtype" "" "$screen"; fi
	keys s S g
	if wait_for "tree, by name reversed" && line 3 | grep -q "▾ model"; then
		ok "sort: S reverses"
	else
		no "sort: S" "not reversed" "$screen"
	fi
	keys S T g
	if wait_for "flat, by name" && line 3 | grep -q "^ lm_head.weight" &&
		line 4 | grep -q "^ model.embed_tokens.weight" &&
		line 5 | grep -q "^ model.layers.0.input_layernorm.weight"; then
		ok "flat: T lists full names"
	else
		no "flat" "no flat list" "$screen"
	fi
	# a click (an xterm mouse report: button 1 pressed, then released,
	# at column 6 of the screen's fifth line) selects that row
	T send-keys -t "$S" -l "$(printf '\033[M %s%s\033[M#%s%s' '&' '%' '&' '%')"
	if wait_for " 3/39 " &&
		selected | grep -q "^ model.layers.0.input_layernorm.weight "; then
		ok "mouse: a click selects its row"
	else
		no "mouse: click" "row 3 not selected" "$screen"
	fi
	keys T
	wait_for "tree, by name"
	# a double click (two press-release pairs at once) on the first row,
	# lm_head.weight, opens its histogram
	T send-keys -t "$S" -l "$(printf '\033[M %s%s\033[M#%s%s\033[M %s%s\033[M#%s%s' \
		'&' '#' '&' '#' '&' '#' '&' '#')"
	if wait_for "lm_head.weight  BF16" && wait_for "absmax"; then
		ok "mouse: a double click opens the tensor's histogram"
	else
		no "mouse: double click" "no histogram of lm_head.weight" "$screen"
	fi
	keys Escape
	wait_for "tree, by name"
	keys '?'
	if wait_for "This screen (tensors)" && wait_for "T, F5" &&
		wait_for "search as you type"; then
		ok "help: the tensor keys first"
	else
		no "help" "no tensor keys" "$screen"
	fi
	keys q
	wait_for "tree, by name"
	keys Q
	wait_exit
	for size in 80x24 200x60; do
		w=${size%x*}
		h=${size#*x}
		start "$w" "$h" -- "$demo"
		# the position may follow the first drawing (a status
		# message from the background work can come first)
		if wait_for "39 tensors" && wait_for " 1/" &&
			why=$(maxwidth "$w") &&
			line "$h" | grep -q "1/" && line 2 | grep -q "name .*dtype"; then
			ok "tree at $size"
		else
			no "tree at $size" "${why:-layout}" "$screen"
		fi
		keys Q
		wait_exit
	done
else
	skipped "tree" "no demo at $demo (run make)"
fi

# ---- the histogram of values the test knows ----

# h.weight: the value k (0..7) 2^k times, 255 values as [15, 17]
"$PY" - "$tmp/hist.safetensors" <<'PYEOF'
import json, struct, sys
vals = []
for k in range(8):
    vals += [float(k)] * (2 ** k)
h = json.dumps({"h.weight": {"dtype": "F32", "shape": [15, 17],
                             "data_offsets": [0, 4 * len(vals)]}}).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + struct.pack("<%df" % len(vals), *vals))
PYEOF

# check the plot's columns against the counts: python reads the screen
cat >"$tmp/hist.py" <<'PYEOF'
import math, sys
log = sys.argv[1] == "log"
width, height = int(sys.argv[2]), int(sys.argv[3])
lines = sys.stdin.read().split("\n")
plot = lines[2:2 + height]
levels = " \u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"
counts = [2 ** k for k in range(8)]
nbins = width
want = [0] * width
for k, c in enumerate(counts):
    b = min(int((k - 0) / 7 * nbins), nbins - 1)
    want[b] += c
top = max(want)
def eighths(v):
    if v <= 0:
        return 0
    f = math.log1p(v) / math.log1p(top) if log else v / top
    return 1 if f * height * 8 < 1 else int(f * height * 8 + 0.5)
bad = []
for c in range(width):
    got = 0
    for r, l in enumerate(plot):
        ch = l[1 + c] if 1 + c < len(l) else " "
        if ch not in levels:
            bad.append("column %d row %d: %r" % (c, r, ch))
            continue
        got += levels.index(ch)
    if got != eighths(want[c]):
        bad.append("column %d: %d eighths, want %d" % (c, got, eighths(want[c])))
if bad:
    print("; ".join(bad[:5]))
    sys.exit(1)
PYEOF

start 120 40 -- "$tmp/hist.safetensors"
wait_for "1 tensor"
keys Enter
# 120 columns: a plot of 120 - 2 - 31 = 87 columns (one bin each), 35 rows
if wait_for "count   255" && wait_for "max     7" && wait_for "bins    87" &&
	why=$(printf '%s\n' "$screen" | "$PY" "$tmp/hist.py" lin 87 35); then
	ok "histogram: bar heights match the counts (linear)"
else
	no "histogram: linear" "${why:-no statistics}" "$screen"
fi
if printf '%s\n' "$screen" | grep -q "mean    6.031" &&
	printf '%s\n' "$screen" | grep -q "zeros   1 (0.39%)" &&
	line 39 | grep -q "^ 0 .* 7$"; then
	ok "histogram: statistics and axis labels"
else
	no "histogram: statistics" "mean, zeros or axis labels" "$screen"
fi
keys L
if wait_for "log scale" &&
	why=$(printf '%s\n' "$screen" | "$PY" "$tmp/hist.py" log 87 35); then
	ok "histogram: L shows log counts"
else
	no "histogram: log" "${why:-no log scale}" "$screen"
fi
keys L +
if wait_for "bins    174"; then
	ok "histogram: + doubles the bins"
else
	no "histogram: +" "bins not 174" "$screen"
fi
keys - r
if wait_for "rows    15 x 17" && wait_for "absmax of each row" &&
	wait_for "max     7"; then
	ok "histogram: r shows the absmax of each row"
else
	no "histogram: rows" "no per-row view" "$screen"
fi
keys '?'
if wait_for "This screen (histogram)" && wait_for "linear or log counts"; then
	ok "histogram: its keys in the help"
else
	no "histogram: help" "no histogram keys" "$screen"
fi
# opened again: the bins follow the width (80 - 2 - 31 = 47)
keys Escape Escape Enter
wait_for "count   255"
T resize-window -t "$S" -x 80 -y 24
if ! wait_for "bins    47" || ! why=$(maxwidth 80); then
	no "histogram at 80x24" "${why:-bins not 47}" "$screen"
else
	ok "histogram at 80x24"
fi
T resize-window -t "$S" -x 60 -y 20
if ! wait_for "bins    58" || ! line 17 | grep -q "^ count   255 " ||
	! why=$(maxwidth 60); then
	no "histogram at 60x20" "${why:-statistics not under the plot}" "$screen"
else
	ok "histogram at 60x20: statistics under the plot"
fi
T resize-window -t "$S" -x 200 -y 60
if wait_for "bins    167" && why=$(maxwidth 200); then
	ok "histogram at 200x60: bins follow the width"
else
	no "histogram at 200x60" "${why:-bins not 167}" "$screen"
fi
keys Escape
if wait_for "1/1" && wait_for "h.weight"; then
	ok "histogram: Esc goes back to the tree"
else
	no "histogram: Esc" "not back" "$screen"
fi
keys q
if wait_exit && [ "$status" = 0 ]; then
	ok "q quits from the tree"
else
	no "q" "status '$status'" "$screen"
fi
