# tests/screens/cases/memory.sh - the memory screen (M): sourced by
# tests/screens/run.sh, whose functions (start, wait_for, keys, grab, line,
# maxwidth, ok, no...) and $tmp it uses.
#
# The sizes on the screen are checked against sizes worked out here, apart
# from qscope's code: the tensors from `qscope list --json`, the bits per
# weight of each scheme from `qscope schemes --json` (measured on a
# 4096 x 4096 tensor, which blocks of 32, 128 and 256 divide), and the
# rules of where a format applies (casts: every float tensor; block
# formats: matrices whose rows the block divides).

cat >"$tmp/mem_check.py" <<'EOF'
import json, re, subprocess, sys

qscope, path, what = sys.argv[1], sys.argv[2], sys.argv[3]
tensors = json.loads(subprocess.run([qscope, "list", "--json", path],
        check=True, capture_output=True, text=True).stdout)["tensors"]
schemes = {s["name"]: s for s in json.loads(subprocess.run(
        [qscope, "schemes", "--json"], check=True, capture_output=True,
        text=True).stdout)["schemes"]}
params = sum(t["params"] for t in tensors)
stored = sum(t["bytes"] for t in tensors)

def units(b):
    # views/units.c's rule, written again: IEC units, one decimal
    if b < 1024:
        return "%d B" % b
    v, u = float(b), 0
    names = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    while v >= 1024 and u < 6:
        v /= 1024
        u += 1
    if v >= 1023.95 and u < 6:
        v /= 1024
        u += 1
    return "%.1f %s" % (v, names[u])

def is_float(dtype):
    return not (dtype[0] in "IU" or dtype == "BOOL")

# label, scheme, block (0: a cast, any shape), short name
simple = [("on disk now", None, 0, "now"), ("FP32", "f32", 0, "fp32"),
          ("FP16", "f16", 0, "fp16"), ("BF16", "bf16", 0, "bf16"),
          ("INT4 (g128)", "int4-g128", 128, "int4"),
          ("Q8_0", "q8_0", 32, "q8_0"), ("Q4_K", "q4_k", 256, "q4_k")]

def size(scheme, block):
    """Bytes of the model in scheme, and how many tensors stay as stored."""
    if scheme is None:
        return stored, 0
    bpw = schemes[scheme]["bits_per_weight"]
    total, kept = 0, 0
    for t in tensors:
        sh = t["shape"]
        if is_float(t["dtype"]) and (block == 0 or (
                len(sh) >= 2 and t["params"] and sh[-1] % block == 0)):
            b = t["params"] * bpw / 8
            assert b == int(b), (t["name"], scheme)
            total += int(b)
        else:
            total += t["bytes"]
            kept += 1
    return total, kept

def row(label, scheme, block):
    b, kept = size(scheme, block)
    return (label, scheme or "-", "%.2f" % (8 * b / params), units(b),
            "%.2fx" % (b / stored), b, kept)

if what == "rows":
    # every simple row on the screen (stdin), its columns as computed
    screen = sys.stdin.read()
    bad = 0
    for label, scheme, block, tag in simple:
        r = row(label, scheme, block)
        pat = r"^ %s +%s +%s +%s +%s( |$)" % tuple(re.escape(x) for x in r[:5])
        if not re.search(pat, screen, re.M):
            print("no row %r" % " ".join(r[:5]))
            bad = 1
    sys.exit(bad)
elif what == "detail":
    # the two lines about a selected row: its exact bytes, what stays
    label, scheme, block, tag = [s for s in simple if s[1] == sys.argv[4]][0]
    r = row(label, scheme, block)
    print("%s: %d bytes, %s bits/weight" % (scheme, r[5], r[2]))
    if r[6]:
        print("%s leaves %d tensor%s" % (tag, r[6], "" if r[6] == 1 else "s"))
    else:
        print("%s applies to every tensor" % tag)
elif what == "index":
    # 1-based position of a label in the table
    labels = ["on disk now", "FP32", "TF32", "FP16", "BF16", "FP8 (e4m3)",
              "INT8", "INT4 (g128)", "NF4", "NF4 + double quant", "Q8_0",
              "Q4_K", "ternary"]
    print(labels.index(sys.argv[4]) + 1)
elif what == "fits":
    # a model whose every tensor is 4096 x 4096: each format's size is
    # the count times the bytes `qscope schemes --json` gives for that
    # shape; the lines group budgets that hold the same formats
    assert all(t["shape"] == [4096, 4096] for t in tensors)
    n = len(tensors)
    rows = [("now", stored)] + [(tag, n * schemes[s]["bytes"]) for tag, s in [
        ("fp32", "f32"), ("tf32", "tf32"), ("fp16", "f16"), ("bf16", "bf16"),
        ("fp8", "fp8-e4m3"), ("int8", "int8"), ("int4", "int4-g128"),
        ("nf4", "nf4"), ("nf4-dq", "nf4-dq"), ("q8_0", "q8_0"),
        ("q4_k", "q4_k"), ("ternary", "ternary")]]
    budgets = [8, 12, 16, 24, 48, 80]
    sets = [[tag for tag, b in rows if b <= g << 30] for g in budgets]
    i = 0
    while i < len(budgets):
        j = i + 1
        while j < len(budgets) and sets[j] == sets[i]:
            j += 1
        s = sets[i]
        if len(s) == len(rows) and j == len(budgets):
            where = "%d GB and up" % budgets[i]
        else:
            g = ["%d" % x for x in budgets[i:j]]
            where = (", ".join(g[:-1]) + " and " + g[-1]
                     if len(g) > 1 else g[0]) + " GB"
        if len(s) == len(rows):
            what_fits = "all"
        elif not s:
            what_fits = "none"
        elif len(s) >= len(rows) - 2:
            what_fits = "all but " + " ".join(t for t, _ in rows if t not in s)
        else:
            what_fits = " ".join(s)
        print("fits in %s: %s" % (where, what_fits))
        i = j
EOF
mem_py() { "$PY" "$tmp/mem_check.py" "$QSCOPE" "$@"; }

demo=demo/model
if [ -d "$demo" ]; then
	start 80 24 -- "$demo"
	if ! wait_for "tensor"; then
		no "memory: demo" "the tensors screen did not open" "$screen"
	else
		keys M
		if ! wait_for "memory · " || ! wait_for "1/13"; then
			no "memory: M opens it" "no memory screen" "$screen"
		elif ! line 1 | grep -q "^ memory · .* params · weights only · demo/model"; then
			no "memory: M opens it" "title wrong" "$screen"
		elif ! why=$(printf '%s\n' "$screen" | mem_py "$demo" rows); then
			no "memory: demo table at 80x24" "$why" "$screen"
		elif ! why=$(maxwidth 80); then
			no "memory: demo table at 80x24" "$why" "$screen"
		elif [ "$(fmt '#{cursor_y}')" != 2 ]; then
			no "memory: demo table at 80x24" "cursor not on the selected first row" "$screen"
		else
			ok "memory: M opens it; demo sizes, bits and ratios as computed at 80x24"
		fi
		# the weights-only note and the answer for small models
		if screen_grep -q "^ weights only: KV cache" &&
			screen_grep -q "^ fits in 8 GB and up: all *$"; then
			ok "memory: weights-only note; a small model fits everywhere"
		else
			no "memory: notes" "no weights-only note or fits line" "$screen"
		fi
		# select rows and read their details
		for scheme in q8_0 q4_k int4-g128; do
			case $scheme in
			q8_0) label=Q8_0 ;;
			q4_k) label=Q4_K ;;
			*) label="INT4 (g128)" ;;
			esac
			want=$(mem_py "$demo" index "$label")
			keys g
			k=1
			while [ "$k" -lt "$want" ]; do
				keys j
				k=$((k + 1))
			done
			exp=$(mem_py "$demo" detail "$scheme")
			one=$(printf '%s\n' "$exp" | sed -n 1p)
			two=$(printf '%s\n' "$exp" | sed -n 2p)
			if wait_for "$want/13" && wait_for "$one" && wait_for "$two" &&
				[ "$(fmt '#{cursor_y}')" = $((want + 1)) ] &&
				line $((want + 2)) | grep -q "^ $label "; then
				ok "memory: select $label: '$one', '$two'"
			else
				no "memory: select $label" "want '$one' and '$two', cursor on row $((want + 1))" "$screen"
			fi
		done
		# at 200x60 the bars: FP32 is the largest, FP16 exactly half
		if ! resize_to 200 60 "/13"; then
			no "memory: 200x60" "no redraw at 200x60" "$screen"
		elif ! why=$(maxwidth 200); then
			no "memory: 200x60" "$why" "$screen"
		elif [ "$(line 4 | grep -o '█' | wc -l)" -ne 40 ] ||
			[ "$(line 6 | grep -o '█' | wc -l)" -ne 20 ] ||
			line 6 | grep -qE '▏|▎|▍|▌|▋|▊|▉'; then
			no "memory: 200x60" "FP32 bar not 40 cells or FP16 bar not 20" "$screen"
		elif ! why=$(printf '%s\n' "$screen" | mem_py "$demo" rows); then
			no "memory: 200x60" "$why" "$screen"
		else
			ok "memory: 200x60: rows as computed, bars to scale"
		fi
		narrow_check memory " memory · " "/13"
		resize_to 80 24 "/13"
		back_checks memory M "memory · "
	fi
	check_Q "memory: demo"
else
	skipped "memory: demo" "no $demo (run make)"
fi

# ---- the GGUF fixture: F16 matrices, F32 norms ----

fix=$QS_FIXTURES/gguf/tiny-llama-f16.gguf
if [ -f "$fix" ]; then
	start 200 60 -- "$fix"
	wait_for "tensor"
	keys M
	if ! wait_for "1/13"; then
		no "memory: gguf" "no memory screen" "$screen"
	elif ! why=$(printf '%s\n' "$screen" | mem_py "$fix" rows); then
		no "memory: gguf at 200x60" "$why" "$screen"
	elif ! why=$(maxwidth 200); then
		no "memory: gguf at 200x60" "$why" "$screen"
	else
		ok "memory: gguf sizes as computed at 200x60"
	fi
	check_Q "memory: gguf"
else
	skipped "memory: gguf" "no fixture $fix"
fi

# ---- will it fit: a large model (a sparse file: no disk used) ----

if "$PY" - "$tmp/mem70.safetensors" <<'EOF'
import json, struct, sys
n, size = 700, 4096 * 4096 * 2
hdr = {"w.%03d" % i: {"dtype": "BF16", "shape": [4096, 4096],
                      "data_offsets": [i * size, (i + 1) * size]}
       for i in range(n)}
h = json.dumps(hdr).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    f.truncate(8 + len(h) + n * size)
EOF
then
	start 200 60 -- "$tmp/mem70.safetensors"
	wait_for "tensor"
	keys M
	wait_for "1/13"
	exp=$(mem_py "$tmp/mem70.safetensors" fits)
	missing=""
	for_lines=$(printf '%s\n' "$exp" | wc -l)
	i=1
	while [ "$i" -le "$for_lines" ]; do
		l=$(printf '%s\n' "$exp" | sed -n "${i}p")
		screen_grep -qxF " $l" || missing="$missing '$l'"
		i=$((i + 1))
	done
	if [ "$for_lines" -lt 3 ]; then
		no "memory: will it fit" "the test model gives too few lines: $exp"
	elif [ -n "$missing" ]; then
		no "memory: will it fit" "missing:$missing" "$screen"
	elif [ "$(screen_grep -c '^ fits in ')" -ne "$for_lines" ]; then
		no "memory: will it fit" "other fits lines than $exp" "$screen"
	else
		ok "memory: will it fit: $(printf '%s\n' "$exp" | tr '\n' ';')"
	fi
	if resize_to 80 24 "/13" && why=$(maxwidth 80) &&
		screen_grep -q "^ fits in "; then
		ok "memory: will it fit at 80x24"
	else
		no "memory: will it fit at 80x24" "${why:-no fits lines}" "$screen"
	fi
	check_Q "memory: will it fit"
	rm -f "$tmp/mem70.safetensors"
else
	skipped "memory: will it fit" "cannot write a sparse test file"
fi
