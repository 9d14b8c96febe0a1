# tests/screens/cases/meta.sh - the metadata screen (m): sourced by
# tests/screens/run.sh, whose functions (start, wait_for, keys, grab, line,
# maxwidth, ok, no...) and $tmp it uses.
#
# What the screen should list is worked out from `qscope meta --json` (the
# entries as the reader stored them): one row per entry, a JSON object
# entry (config.json) opened into a row per member.

cat >"$tmp/meta_check.py" <<'EOF'
import json, subprocess, sys

qscope, path, what = sys.argv[1], sys.argv[2], sys.argv[3]
entries = json.loads(subprocess.run([qscope, "meta", "--json", path],
        check=True, capture_output=True, text=True).stdout)["metadata"]
rows = []
for e in entries:
    v = e["value"]
    if e["type"] == "json" and isinstance(v, dict) and v:
        rows += [(e["key"] + "." + k, m) for k, m in v.items()]
    else:
        rows.append((e["key"], v))

if what == "count":
    print(len(rows))
elif what == "find":
    # 1-based index of the first row whose key holds the pattern, and how
    # many rows do (patterns chosen to occur in keys only)
    pat = sys.argv[4].lower()
    hits = [i + 1 for i, (k, v) in enumerate(rows) if pat in k.lower()]
    assert not [1 for k, v in rows if pat not in k.lower() and
                pat in json.dumps(v, ensure_ascii=False).lower()], pat
    print(hits[0] if hits else 0, len(hits))
elif what == "value":
    # a scalar value as the screen shows it
    v = dict(rows)[sys.argv[4]]
    print(v if isinstance(v, str) else json.dumps(v))
elif what == "summary":
    # an array kept as a summary: its length, then its first items
    v = dict(rows)[sys.argv[4]]
    print(v["len"])
    for x in v["first"]:
        print(json.dumps(x, ensure_ascii=False))
EOF
meta_py() { "$PY" "$tmp/meta_check.py" "$QSCOPE" "$@"; }

# ---- the demo: config.json ----

demo=demo/model
if [ -d "$demo" ]; then
	count=$(meta_py "$demo" count)
	start 80 24 -- "$demo"
	wait_for "tensor"
	keys m
	if ! wait_for "metadata · "; then
		no "meta: m opens it" "no metadata screen" "$screen"
	elif [ "$(line 1)" != " metadata · $count entries · demo/model" ]; then
		no "meta: m opens it" "title is not 'metadata · $count entries · demo/model'" "$screen"
	elif ! line 2 | grep -q "^ key  *value"; then
		no "meta: m opens it" "no column titles" "$screen"
	elif ! screen_grep -q "^ config\.json\.hidden_size  *$(meta_py "$demo" value config.json.hidden_size) *$"; then
		no "meta: m opens it" "no row config.json.hidden_size = 512" "$screen"
	elif ! line 24 | grep -q "1/$count .*? help"; then
		no "meta: m opens it" "status has no 1/$count" "$screen"
	elif [ "$(fmt '#{cursor_y}')" != 2 ]; then
		no "meta: m opens it" "cursor not on the first row" "$screen"
	elif ! why=$(maxwidth 80); then
		no "meta: m opens it" "$why" "$screen"
	else
		ok "meta: m opens the demo's config.json, $count rows, at 80x24"
	fi
	# the detail area: the selected value under a rule naming its type
	first=$(meta_py "$demo" value config.json.architectures)
	if screen_grep -q "^── json ──" &&
		screen_grep -A1 "^── json" | tail -1 |
		grep -qxF " $first"; then
		ok "meta: the detail shows the selected value ($first)"
	else
		no "meta: detail" "no rule with the type, or not '$first' below it" "$screen"
	fi
	# search a key, then n wraps round to the only match
	r=$(meta_py "$demo" find vocab)
	idx=${r% *}
	total=${r#* }
	keys / v o c a b Enter
	if wait_for "/vocab: match 1 of $total" && wait_for " $idx/$count " &&
		selected | grep -q "config\.json\.vocab_size"; then
		ok "meta: / finds config.json.vocab_size (row $idx)"
	else
		no "meta: search" "want row $idx selected, 'match 1 of $total'" "$screen"
	fi
	keys n
	if wait_for "match 1 of $total (wrapped)" && wait_for " $idx/$count "; then
		ok "meta: n goes round to the same match"
	else
		no "meta: n" "no '(wrapped)'" "$screen"
	fi
	keys / z z q x Enter
	if wait_for "no match: zzqx" && wait_for " $idx/$count "; then
		ok "meta: a search with no match says so, selection kept"
	else
		no "meta: no match" "no 'no match' message" "$screen"
	fi
	back_checks meta m "metadata · "
	check_Q "meta: demo"
else
	skipped "meta: demo" "no $demo (run make)"
fi

# ---- a GGUF: typed keys, arrays kept as summaries ----

fix=$QS_FIXTURES/gguf/tiny-llama-f16.gguf
if [ -f "$fix" ]; then
	count=$(meta_py "$fix" count)
	tokens=$(meta_py "$fix" summary tokenizer.ggml.tokens)
	ntok=$(printf '%s\n' "$tokens" | sed -n 1p)
	tok1=$(printf '%s\n' "$tokens" | sed -n 2p)
	tok2=$(printf '%s\n' "$tokens" | sed -n 3p)
	start 200 60 -- "$fix"
	wait_for "tensor"
	keys m
	if ! wait_for "metadata · $count entries · " ||
		! line 1 | grep -q "tiny-llama-f16.gguf"; then
		no "meta: gguf" "no title 'metadata · $count entries · ...gguf'" "$screen"
	elif ! screen_grep -q "^ general\.architecture  *$(meta_py "$fix" value general.architecture) *$"; then
		no "meta: gguf" "no row general.architecture = llama" "$screen"
	elif ! screen_grep -qF "[$ntok strings: $tok1, $tok2, "; then
		no "meta: gguf" "tokens not shown as [$ntok strings: $tok1, $tok2, ...]" "$screen"
	elif ! why=$(maxwidth 200); then
		no "meta: gguf" "$why" "$screen"
	else
		ok "meta: gguf at 200x60: general.architecture, [$ntok strings: ...]"
	fi
	r=$(meta_py "$fix" find head_count)
	idx=${r% *}
	total=${r#* }
	keys / h e a d _ c o u n t Enter
	if wait_for "/head_count: match 1 of $total" && wait_for " $idx/$count " &&
		selected | grep -q "^ llama\.attention\.head_count "; then
		ok "meta: / head_count selects row $idx"
	else
		no "meta: gguf search" "want row $idx, match 1 of $total" "$screen"
	fi
	keys n
	if wait_for "match 2 of $total" && wait_for " $((idx + 1))/$count " &&
		selected | grep -q "^ llama\.attention\.head_count_kv "; then
		ok "meta: n goes to the next match"
	else
		no "meta: gguf n" "want head_count_kv selected" "$screen"
	fi
	keys N
	if wait_for "match 1 of $total" && wait_for " $idx/$count "; then
		ok "meta: N goes back to the previous match"
	else
		no "meta: gguf N" "want row $idx" "$screen"
	fi
	if ! resize_to 80 24 "/$count"; then
		no "meta: resize to 80x24" "no redraw" "$screen"
	elif ! why=$(maxwidth 80); then
		no "meta: resize to 80x24" "$why" "$screen"
	elif ! selected | grep -q "^ llama\.attention\.head_count "; then
		no "meta: resize to 80x24" "selection lost" "$screen"
	else
		ok "meta: resize to 80x24 keeps the selection"
	fi
	narrow_check meta " metadata · " "/$count"
	resize_to 200 60 "/$count"
	# the whole value of a summarized array, one item a line
	keys / t o k e n s Enter
	wait_for "/tokens: match"
	keys Enter
	if wait_for "lines 1-" && line 1 | grep -q "tokenizer\.ggml\.tokens" &&
		line 2 | grep -q "^ $ntok strings; the file's first" &&
		[ "$(line 3)" = " $tok1" ] && [ "$(line 4)" = " $tok2" ]; then
		ok "meta: Enter shows the whole value, an item a line"
	else
		no "meta: Enter" "no full view of the tokens" "$screen"
	fi
	keys Escape
	expect "meta: Esc closes the value, back to the list" \
		"meta: Esc from the value" "not back on the list" "/$count" 1 \
		"^ metadata · $count entries"
	check_Q "meta: gguf"
else
	skipped "meta: gguf" "no fixture $fix"
fi

# ---- a long chat template and hostile text ----

if "$PY" - "$tmp/meta-long.gguf" >"$tmp/meta-long.lines" <<'EOF'
import struct, sys

def s(x):
    b = x.encode()
    return struct.pack("<Q", len(b)) + b

def kv(k, v):
    return s(k) + struct.pack("<I", 8) + s(v)

tmpl = ("{% for message in messages %}\n"
        "{% if message['role'] == 'user' %}\n"
        "{{ '<|user|>\\n' + message['content'] + eos_token }}\n"
        "{% endif %}\n{% endfor %}\n" +
        "\n".join("line %d of the template" % i for i in range(40)) +
        "\nTHE END")
kvs = [kv("general.architecture", "llama"),
       kv("tokenizer.chat_template", tmpl),
       kv("evil\x1b[31mkey\x07", "value\x1b]0;pwned\x07 here")]
tensor = s("w") + struct.pack("<IQQIQ", 2, 32, 4, 0, 0)
hdr = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kvs)) + b"".join(kvs) + tensor
hdr += b"\0" * ((32 - len(hdr) % 32) % 32)
open(sys.argv[1], "wb").write(hdr + b"\0" * (4 * 32 * 4))
lines = tmpl.split("\n")
assert max(len(l) for l in lines) < 78
print(len(lines))
print(lines[0])
EOF
then
	nl=$(sed -n 1p "$tmp/meta-long.lines")
	first=$(sed -n 2p "$tmp/meta-long.lines")
	start 80 24 -- "$tmp/meta-long.gguf"
	wait_for "tensor"
	keys m
	if ! wait_for "metadata · 3 entries"; then
		no "meta: hostile" "no metadata screen" "$screen"
	elif ! screen_grep -qF 'evil\x1b[31mkey\x07' ||
		! screen_grep -qF 'value\x1b]0;pwned\x07 here'; then
		no "meta: hostile" "escape sequences not shown as \\x1b text" "$screen"
	elif [ "$(fmt '#{pane_title}')" = pwned ]; then
		no "meta: hostile" "a value set the terminal title" "$screen"
	elif ! why=$(maxwidth 80); then
		no "meta: hostile" "$why" "$screen"
	else
		ok "meta: control characters in keys and values shown as \\x escapes"
	fi
	keys j
	if wait_for " 2/3 " && screen_grep -q "more lines: Enter" &&
		selected | grep -qF "{% for message in messages %}↵{% if"; then
		ok "meta: a long value: ↵ for newlines in the row, 'more lines: Enter'"
	else
		no "meta: long value" "no ↵ in the row or no 'more lines'" "$screen"
	fi
	keys Enter
	if wait_for "lines 1-22 of $nl" && [ "$(line 2)" = " $first" ]; then
		ok "meta: Enter: the template, $nl lines, from its first"
	else
		no "meta: template" "want 'lines 1-22 of $nl' and '$first'" "$screen"
	fi
	keys G
	if wait_for "of $nl" && [ "$(line 23)" = " THE END" ]; then
		ok "meta: G scrolls to the template's end"
	else
		no "meta: template G" "THE END not on the last line" "$screen"
	fi
	if ! resize_to 40 24 "of "; then
		no "meta: template at 40x24" "no redraw" "$screen"
	elif ! why=$(maxwidth 40); then
		no "meta: template at 40x24" "$why" "$screen"
	else
		more=$(line 24 | sed -n 's/.*lines [0-9]*-[0-9]* of \([0-9]*\).*/\1/p')
		keys G
		if [ "${more:-0}" -gt "$nl" ] && wait_for "THE END"; then
			ok "meta: at 40 columns the template wraps ($more lines)"
		else
			no "meta: template at 40x24" "not wrapped: '$more' lines" "$screen"
		fi
	fi
	keys Escape
	wait_for " 2/3 "
	keys Escape
	if back_on_tensors "metadata · "; then
		ok "meta: Esc, Esc: value, list, tensors"
	else
		no "meta: Esc twice" "not back on the tensors" "$screen"
	fi
	check_Q "meta: long values"
else
	skipped "meta: long values" "cannot write the test file"
fi

# ---- no metadata ----

fix=$QS_FIXTURES/real/huggingface__candle__candle-core_tests_test.npy
if [ -f "$fix" ] && [ "$(meta_py "$fix" count)" = 0 ]; then
	start 80 24 -- "$fix"
	wait_for "tensor"
	keys m
	if wait_for "(no metadata)" && line 1 | grep -q "^ metadata · 0 entries" &&
		line 24 | grep -q "0/0"; then
		ok "meta: no metadata: says so"
	else
		no "meta: no metadata" "no '(no metadata)'" "$screen"
	fi
	keys n
	expect "meta: n before any search says how to search" \
		"meta: n with no search" "no message" "no search yet"
	check_Q "meta: no metadata"
else
	skipped "meta: no metadata" "no fixture without metadata at $fix"
fi
