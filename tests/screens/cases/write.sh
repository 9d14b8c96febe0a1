# tests/screens/cases/write.sh - writing from the browser (w) as GGUF:
# the name proposed beside a GGUF input, a target set with f written in its
# GGUF type and checked after writing, the output read back by qscope list
# and by the GGUF parser of tests/quantize_check.py (not qscope's); an
# existing target needs a confirmation; targets GGUF cannot hold and a
# GGUF name for an input that is not GGUF are refused before writing; Esc
# during the write leaves nothing behind (sourced by tests/screens/run.sh).

# The tree's w asks views/write.h for the name it proposes and for the
# check of the targets; without that, w cannot reach the GGUF writer.
wired=0
grep -q "write_default_out" views/tensors.c 2>/dev/null && wired=1
gg=$QS_FIXTURES/gguf
if [ $wired = 0 ]; then
	skipped "write GGUF" "views/tensors.c does not call write_default_out() and write_check() (views/write.h)"
elif [ -f "$gg/tiny-llama-f32.gguf" ] && [ -f "$gg/tiny-llama-f32.Q6_K.gguf" ]; then
	# a link, so that the name proposed beside the input is in $tmp
	mkdir -p "$tmp/wg"
	ln -sf "$gg/tiny-llama-f32.gguf" "$tmp/wg/tl.gguf"
	start 120 30 -- "$tmp/wg/tl.gguf"
	wait_for "21 tensors"
	# blk > 0 > attn_k.weight; from keep, F goes binary, ternary, q6_k
	keys j j F F F
	if wait_for "attn_k.weight" && wait_for "q6_k"; then
		keys w
		expect "w (GGUF): asks where, x-qscope.gguf beside the input" \
			"w (GGUF)" "no GGUF prompt" \
			"write GGUF to [$tmp/wg/tl-qscope.gguf]:"
		keys Enter
		if wait_for "wrote 1 file" && wait_for "verified: 65536 values" &&
			wait_for "1 tensor converted" && [ -f "$tmp/wg/tl-qscope.gguf" ]; then
			ok "w (GGUF): written, verified after writing"
		else
			no "w (GGUF): write" "not written or not verified" "$screen"
		fi
		if "$QSCOPE" list "$tmp/wg/tl-qscope.gguf" |
			grep -q "^blk.0.attn_k.weight  *Q6_K  *\[256, 256\]" &&
			[ "$("$QSCOPE" list "$tmp/wg/tl-qscope.gguf" | grep -c " F32 ")" = 20 ]; then
			ok "w (GGUF): qscope list reads the output, attn_k in Q6_K, the rest F32"
		else
			no "w (GGUF): list" "$("$QSCOPE" list "$tmp/wg/tl-qscope.gguf" 2>&1 | head -8)"
		fi
		# The parser of quantize_check.py: ggml's layout rules, the
		# Q6_K bytes llama-quantize wrote for the same F32 tensor, the
		# other tensors byte for byte, the input's keys in order with
		# quantization_version and file_type moved to the end.
		if why=$("$PY" - "$tmp/wg/tl-qscope.gguf" "$gg/tiny-llama-f32.gguf" \
			"$gg/tiny-llama-f32.Q6_K.gguf" <<'EOF' 2>&1
import sys
sys.path.insert(0, "tests")
sys.dont_write_bytecode = True
from quantize_check import GGUF, GGML_TYPES
out, inp, ref = (GGUF(p) for p in sys.argv[1:4])
q = "blk.0.attn_k.weight"
moved = ("general.quantization_version", "general.file_type")
keys = lambda g: [k for k, _, _, _ in g.kvs]
bad = out.layout_problems()
if out.version != 3:
    bad.append("version %d" % out.version)
if GGML_TYPES[out.data(q)[0]][0] != "Q6_K":
    bad.append("%s is %s" % (q, GGML_TYPES[out.data(q)[0]][0]))
if out.data(q)[1] != ref.data(q)[1]:
    bad.append("%s: not llama-quantize's Q6_K bytes" % q)
for n, _, t, _ in out.tensors:
    if n != q and out.data(n) != inp.data(n):
        bad.append("%s differs from the input" % n)
if [k for k in keys(out) if k not in moved] != \
        [k for k in keys(inp) if k not in moved] or \
        tuple(keys(out)[-2:]) != moved:
    bad.append("keys: %s" % keys(out)[-4:])
if [n for n, _, _, _ in out.tensors] != [n for n, _, _, _ in inp.tensors]:
    bad.append("tensor order")
print("; ".join(bad))
sys.exit(1 if bad else 0)
EOF
		); then
			ok "w (GGUF): an independent parser: ggml's layout, llama-quantize's Q6_K bytes, the rest and the keys as in the input"
		else
			no "w (GGUF): parser" "$why"
		fi
		keys Escape w Enter
		if wait_for "exists" && wait_for "Enter replaces it"; then
			keys Enter
			expect "w (GGUF): an existing target is replaced after a confirmation" \
				"w (GGUF): replace" "not written" \
				"wrote 1 file"
		else
			no "w (GGUF): exists" "no question" "$screen"
		fi
		keys Escape
	else
		no "w (GGUF): f" "no q6_k target" "$screen"
	fi
	keys Q
	wait_exit

	# nf4 has no GGUF type, q6_k no safetensors layout: refused at w
	printf 'blk.0.attn_q.weight nf4\nblk.0.attn_k.weight q6_k\n' >"$tmp/wg/mix.plan"
	printf 'blk.0.attn_q.weight nf4\n' >"$tmp/wg/nf4.plan"
	start 160 30 -- "$tmp/wg/tl.gguf"
	wait_for "21 tensors"
	keys P "$tmp/wg/mix.plan" Enter
	wait_for "loaded 2 rules"
	keys w
	expect "w (GGUF): a target GGUF cannot hold is refused, naming the tensor and what GGUF holds" \
		"w (GGUF): refusal" "no message" \
		"'blk.0.attn_q.weight': nf4 cannot be written to GGUF, which holds f32 f16 bf16 q8_0"
	# nf4 alone: safetensors proposed; a .gguf name typed is refused
	keys P "$tmp/wg/nf4.plan" Enter
	wait_for "loaded 1 rule"
	keys w
	if wait_for "write safetensors to [$tmp/wg/tl-qscope.safetensors]:"; then
		keys "$tmp/wg/typed.gguf" Enter
		if wait_for "not written: 'blk.0.attn_q.weight': nf4 cannot be" &&
			wait_for "nothing was left behind" &&
			[ ! -e "$tmp/wg/typed.gguf" ]; then
			ok "w (GGUF): a typed .gguf name with an nf4 target: refused before writing"
		else
			no "w (GGUF): typed .gguf" "not refused" "$screen"
		fi
	else
		no "w (GGUF): nf4 default" "no safetensors prompt" "$screen"
	fi
	keys Escape Q
	wait_exit
	rm -f "$tmp/wg/"*-qscope.*
else
	skipped "write GGUF" "no fixture $gg/tiny-llama-f32.gguf"
fi

# A GGUF name for an input that is not GGUF: refused
start 120 30 -- "$tmp/big.safetensors"
wait_for "100 tensors"
keys w
if wait_for "write safetensors to [$tmp/big-qscope.safetensors]:"; then
	keys "$tmp/big.gguf" Enter
	if wait_for "not written: GGUF output needs a GGUF input" &&
		[ ! -e "$tmp/big.gguf" ]; then
		ok "w: a .gguf name for a safetensors input is refused"
	else
		no "w: .gguf from safetensors" "not refused" "$screen"
	fi
else
	no "w: safetensors prompt" "no prompt" "$screen"
fi
keys Escape Q
wait_exit

# Esc while a GGUF is written: nothing left behind.  128 MiB of F32 to
# Q4_K (every tensor) takes a second or more; if it ends before Esc, say so.
mkdir -p "$tmp/wc"
if [ $wired = 0 ]; then
	:
elif "$PY" -c '
import sys
sys.path.insert(0, "tests")
sys.dont_write_bytecode = True
from write_faults import write_gguf
write_gguf(sys.argv[1], rows=4096, cols=2048, ntensors=4)' "$tmp/wc/big.gguf"; then
	printf '* q4_k\n' >"$tmp/wc/q.plan"
	start 120 30 -- "$tmp/wc/big.gguf"
	wait_for "8 tensors"
	keys P "$tmp/wc/q.plan" Enter
	wait_for "loaded 1 rule"
	keys w
	wait_for "write GGUF to [$tmp/wc/big-qscope.gguf]:"
	keys Enter
	if wait_for "writing"; then
		keys Escape
		if wait_for "stopped: nothing was written" &&
			[ "$(ls -A "$tmp/wc")" = "big.gguf
q.plan" ]; then
			ok "w (GGUF): Esc stops the write, nothing left behind"
		elif shows "wrote 1 file"; then
			# Esc came after the last byte (the check that follows
			# cannot be stopped half way: the file is in place)
			skipped "w (GGUF): Esc" "the write ended before Esc took effect"
		else
			no "w (GGUF): Esc" "not stopped, or files left: $(ls -A "$tmp/wc" | tr '\n' ' ')" "$screen"
		fi
	elif wait_for "wrote 1 file"; then
		skipped "w (GGUF): Esc" "the write ended before Esc"
	else
		no "w (GGUF): Esc" "no progress" "$screen"
	fi
	keys Escape Q
	wait_exit
	rm -rf "$tmp/wc"
else
	no "w (GGUF): Esc" "cannot write the test input"
fi
