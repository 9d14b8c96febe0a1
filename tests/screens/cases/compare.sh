# tests/screens/cases/compare.sh - the compare screen (c from a tensor's
# histogram) and the float16 limit on the histogram: sourced by
# tests/screens/run.sh, whose functions (start, wait_for, keys, grab, line,
# maxwidth, ok, no...) and $tmp it uses.
#
# The error figures on the screen are checked against `qscope try --json`
# for the same tensor and format; the count of values past the float16 range
# against numpy on the demo's bytes (read here, apart from qscope) and
# against `qscope check --json`.

demo=$PWD/demo/model
if [ -f "$demo/model.safetensors.index.json" ]; then
	down=model.layers.1.mlp.down_proj.weight
	q=model.layers.0.self_attn.q_proj.weight

	# |x| >= 65520 (infinity as float16) in $down, from the bytes
	over=$("$PY" - "$demo" "$down" <<'EOF'
import glob, json, struct, sys
import numpy as np
d, name = sys.argv[1], sys.argv[2]
for f in sorted(glob.glob(d + "/*.safetensors")):
    b = open(f, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    if name not in h:
        continue
    s, e = h[name]["data_offsets"]
    assert h[name]["dtype"] == "BF16"
    u = np.frombuffer(b[8 + n + s:8 + n + e], dtype=np.uint16)
    x = (u.astype(np.uint32) << 16).view(np.float32)
    x = x[np.isfinite(x)].astype(np.float64)
    print(int((np.abs(x) >= 65520).sum()),
          int((np.abs(x - x.mean()) > 6 * x.std()).sum()))
EOF
)
	# the second figure: values more than 6 std from the mean
	beyond=${over#* }
	over=${over% *}
	check_over=$("$QSCOPE" check --json "$demo" | "$PY" -c '
import json, sys
for f in json.load(sys.stdin)["findings"]:
    if f["tensor"] == sys.argv[1] and f["counts"].get("cast") == "f16":
        print(f["counts"]["overflow"])' "$down")

	# what `qscope try` says of a tensor and format, as the screen prints it
	cat >"$tmp/cmp_try.py" <<'EOF'
import json, subprocess, sys
qscope, path, scheme, name = sys.argv[1:5]
r = json.loads(subprocess.run([qscope, "try", "--json", path, scheme, name],
        check=True, capture_output=True, text=True).stdout)["tensors"][0]
def num(x):
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        return "%.4g" % x
    return "%.3g" % x
print("rel err %.4g  SQNR %.2f dB  max |err| %s" %
      (r["rel_err"], r["sqnr_db"], num(r["max_abs_err"])))
print("RMSE %s  cosine %.6f" % (num(r["rmse"]), r["cosine"]))
EOF
	# cmp_want SCHEME TENSOR: first and second, the two lines of figures
	# cmp_try.py prints for them
	cmp_want() {
		want=$("$PY" "$tmp/cmp_try.py" "$QSCOPE" "$demo" "$1" "$2")
		first=$(printf '%s\n' "$want" | sed -n 1p)
		second=$(printf '%s\n' "$want" | sed -n 2p)
	}

	start 120 40 -- "$demo"
	wait_for "39 tensors"
	keys / 1.mlp.down_proj Enter
	sleep 0.3
	keys Enter
	if wait_for "f16 inf" && [ -n "$over" ] && [ "$over" = "$check_over" ] &&
		screen_grep -qF "f16 inf $over (|x| >= 65520)"; then
		ok "compare: the histogram counts $over values past float16 (numpy, check agree)"
	else
		no "compare: f16 count" "want 'f16 inf $over' (check says '$check_over')" "$screen"
	fi
	if [ -n "$beyond" ] && screen_grep -qF ">6 std  $beyond ("; then
		ok "compare: the histogram counts $beyond values beyond 6 std (numpy agrees)"
	else
		no "compare: >6 std" "want '>6 std  $beyond'" "$screen"
	fi
	# the axis: the zero mark and one mark at each of -65504 and +65504
	axis=$(screen_grep '└')
	if [ "$(printf '%s' "$axis" | tr -cd '|' | wc -c)" -eq 2 ]; then
		ok "compare: +-65504 marked on the histogram's axis"
	else
		no "compare: f16 marks" "want two '|' on the axis" "$screen"
	fi

	# c: the compare screen, int8 (q4_k does not divide rows of 1376)
	keys c
	cmp_want int8 "$down"
	if wait_for "$down  BF16 [512, 1376] -> int8" &&
		wait_for "levels used:" &&
		screen_grep -q "^ before  x, 704.5K finite values" &&
		screen_grep -q "^ after   y = int8 dequantized" &&
		screen_grep -q "^ error   y - x"; then
		ok "compare: c opens before, after and error for int8"
	else
		no "compare: sections" "no title or sections" "$screen"
	fi
	if screen_grep -qF "$first"; then
		ok "compare: int8 figures equal qscope try ($first)"
	else
		no "compare: int8 figures" "want '$first'" "$screen"
	fi
	if why=$(maxwidth 120) && line 40 | grep -q "L log  f format  Esc back  ? help"; then
		ok "compare: status line with the keys"
	else
		no "compare: status line" "${why:-no hints}" "$screen"
	fi
	# f16 on the compare screen: the same values become inf
	press_until F "-> f16 *$"
	if wait_for "f16 limit +-65504:" &&
		wait_for "$over values beyond it become inf" &&
		[ "$(line 22 | tr -cd '|' | wc -c)" -eq 2 ]; then
		ok "compare: f16 marks +-65504, $over values become inf"
	else
		no "compare: f16" "want the limit marked and $over values" "$screen"
	fi
	keys Escape
	if wait_for "f16 inf" && wait_gone "levels used"; then
		ok "compare: Esc goes back to the histogram"
	else
		no "compare: Esc" "not back on the histogram" "$screen"
	fi
	keys Escape

	# a tensor where q4_k applies: the default, then f to the next format
	keys / 0.self_attn.q_proj Enter
	sleep 0.3
	keys Enter
	wait_for "absmax"
	keys c
	cmp_want q4_k "$q"
	if wait_for "$q  BF16 [512, 512] -> q4_k" && wait_for "levels used:" &&
		screen_grep -qF "$first" &&
		screen_grep -qF "$second"; then
		ok "compare: q4_k by default, figures equal qscope try"
	else
		no "compare: q4_k" "want '$first' and '$second'" "$screen"
	fi
	keys f
	cmp_want q5_k "$q"
	if wait_for "-> q5_k" && wait_for "$first"; then
		ok "compare: f goes to q5_k, figures equal qscope try"
	else
		no "compare: f" "want q5_k and '$first'" "$screen"
	fi
	# int4-g128: scale absmax / 7 leaves the code -8 unused, by design
	press_until F "-> int4-g128 *$"
	cmp_want int4-g128 "$q"
	if wait_for "$first" && wait_for "levels used: 15 of 16" &&
		line 22 | grep -q '^ └.*\..*|.*┘'; then
		ok "compare: int4-g128: 15 of 16 levels used, the dead one marked '.'"
	else
		no "compare: dead level" "want '$first', 15 of 16 and a '.' on the axis" "$screen"
	fi
	keys L
	expect "compare: L switches to log counts" "compare: L" "no log counts" \
		"finite values, log counts"
	keys '?'
	if wait_for "This screen (compare)" && wait_for "target format: the next"; then
		ok "compare: ? lists the screen's keys"
	else
		no "compare: help" "no help for compare" "$screen"
	fi
	keys Escape
	if resize_to 80 24 "Esc back" && wait_for "levels used" && why=$(maxwidth 80) &&
		screen_grep -q "^ error   y - x"; then
		ok "compare: 80x24 relayouts"
	else
		no "compare: resize" "${why:-no redraw}" "$screen"
	fi
	check_quit Q "compare: Q quits from the compare screen with status 0" "compare: Q"

	# ASCII mode: '#' bars, nothing outside ASCII
	start 100 30 -- --ascii "$demo"
	wait_for "39 tensors"
	keys / 0.self_attn.q_proj Enter
	sleep 0.3
	keys Enter
	wait_for "absmax"
	keys c
	if wait_for "levels used" && screen_grep -q '#' &&
		! printf '%s\n' "$screen" | LC_ALL=C grep -q '[^ -~]'; then
		ok "compare: --ascii draws with ASCII only"
	else
		no "compare: ascii" "non-ASCII characters or no bars" "$screen"
	fi
	check_Q compare
else
	skipped "compare" "no demo at $demo (make builds it)"
fi
