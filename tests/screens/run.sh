#!/bin/sh
# tests/screens/run.sh - end-to-end screen tests of the interactive browser.
#
# Each case starts qscope in a detached tmux session of a fixed size (its
# own tmux server on a socket in a temporary folder, so the user's tmux is
# never touched), sends keys, and checks what the screen shows; waits are polls
# of the screen for the expected text (up to ~5 s), never fixed sleeps.
# Prints "ok   screen CASE" or "FAIL screen CASE: why" plus the screen, then
# "N passed, N failed"; exits 1 if anything failed.  Needs no terminal on
# stdin.
#
#   QSCOPE       the program (default ./qscope)
#   QS_FIXTURES  the shared fixtures (default ../shared/fixtures)

set -u
unset TMUX TMUX_PANE

QSCOPE=${QSCOPE:-./qscope}
QS_FIXTURES=${QS_FIXTURES:-../shared/fixtures}
PY=/usr/bin/python3

case $QSCOPE in /*) ;; *) QSCOPE=$PWD/$QSCOPE ;; esac
case $QS_FIXTURES in /*) ;; *) QS_FIXTURES=$PWD/$QS_FIXTURES ;; esac

pass=0
fail=0
skip=0
ok() { echo "ok   screen $1"; pass=$((pass + 1)); }
no() {
	echo "FAIL screen $1: $2"
	if [ -n "${3-}" ]; then
		echo "--- screen ---"
		printf '%s\n' "$3"
		echo "--------------"
	fi
	fail=$((fail + 1))
}
skipped() { echo "skip screen $1: $2"; skip=$((skip + 1)); }

if ! command -v tmux >/dev/null 2>&1; then
	no setup "tmux is not installed (tools/deps test installs it)"
	echo "$pass passed, $fail failed"
	exit 1
fi
if [ ! -x "$QSCOPE" ]; then
	no setup "no program at $QSCOPE (run make first)"
	echo "$pass passed, $fail failed"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/qscope-screens.XXXXXX") || exit 1
# A server of our own, its socket in our temporary folder (gone with it).
T() { tmux -S "$tmp/tmux.sock" -f "$tmp/tmux.conf" "$@"; }
cleanup() {
	T kill-server >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

mkdir -p "$tmp/home"
# No status line: the pane is exactly the window size.
cat >"$tmp/tmux.conf" <<'EOF'
set -g status off
set -g default-terminal tmux-256color
set -g history-limit 0
EOF

# The session's command: record qscope's pid (for signal cases), run it,
# record its exit status, then keep the pane so the restored terminal can
# be inspected.
cat >"$tmp/wrap.sh" <<'EOF'
trap : INT	# Ctrl-C is for qscope; this shell must live to record its status
out=$1
shift
sh -c 'echo $$ >"$0.pid"; exec "$@"' "$out" "$@"
echo "EXIT=$?" >"$out.tmp" && mv "$out.tmp" "$out"
exec sleep 120
EOF

# Test checkpoints, written here so the cases do not depend on fixtures:
# big: 100 tensors; hostile: names with escape sequences, control and wide
# characters.
"$PY" - "$tmp" <<'EOF' || { echo "FAIL screen setup: cannot write test files"; exit 1; }
import json, struct, sys

def write(path, tensors):
    hdr, off, data = {}, 0, b""
    for name, dtype, shape, size in tensors:
        hdr[name] = {"dtype": dtype, "shape": shape,
                     "data_offsets": [off, off + size]}
        off += size
    h = json.dumps(hdr, ensure_ascii=False).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"\0" * off)

d = sys.argv[1]
write(d + "/big.safetensors",
      [("layers.%03d.weight" % i, "BF16" if i % 2 else "F32", [i + 1, 4],
        (i + 1) * 4 * (2 if i % 2 else 4)) for i in range(100)])
write(d + "/hostile.safetensors",
      [("evil\x1b[31mred\x1b]0;pwned\x07.weight", "F32", [1], 4),
       ("\u65e5\u672c\u8a9e\u30c6\u30f3\u30bd\u30eb.weight", "F32", [1], 4),
       ("plain.weight", "F32", [1], 4),
       ("tab\there", "F32", [1], 4)])
EOF

# Display width checks (wide characters take two columns).
cat >"$tmp/screen.py" <<'EOF'
import sys, unicodedata

def width(s):
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)

def col(line, word):
    i = line.find(word)
    return -1 if i < 0 else width(line[:i])

what, arg = sys.argv[1], sys.argv[2]
lines = sys.stdin.read().rstrip("\n").split("\n")
if what == "maxwidth":
    bad = [l for l in lines if width(l) > int(arg)]
    if bad:
        print("line wider than %s: %r" % (arg, bad[0]))
        sys.exit(1)
elif what == "aligned":
    # the table rows: below the title and column titles, above the status
    cols = {col(l, arg) for l in lines[2:-1] if arg in l}
    if len(cols) != 1:
        print("'%s' at columns %s" % (arg, sorted(cols)))
        sys.exit(1)
EOF

n=0
S=""	# the current session
screen=""

# start W H [VAR=value...] -- ARGS...: a new session running qscope.
start() {
	w=$1
	h=$2
	shift 2
	n=$((n + 1))
	S=s$n
	envs=""
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		envs="$envs $1"
		shift
	done
	[ $# -gt 0 ] && shift
	rm -f "$tmp/$S.exit" "$tmp/$S.exit.pid"
	# shellcheck disable=SC2086
	T new-session -d -s "$S" -x "$w" -y "$h" -c "$PWD" \
		env -i PATH="$PATH" HOME="$tmp/home" TERM=tmux-256color \
		LANG=C.UTF-8 TZ=UTC $envs \
		sh "$tmp/wrap.sh" "$tmp/$S.exit" "$QSCOPE" "$@"
}

grab() { screen=$(T capture-pane -p -t "$S" 2>/dev/null); }
fmt() { T display -p -t "$S" "$1"; }
line() { printf '%s\n' "$screen" | sed -n "$1p"; }
keys() { T send-keys -t "$S" "$@"; }

# The row the cursor is parked on (the selected one), as text.
selected() { line $(($(fmt '#{cursor_y}') + 1)); }

# poll N COMMAND...: run COMMAND every 0.1 s until it succeeds, N times at
# the most; fails if it never did.
poll() {
	poll_n=$1
	shift
	poll_i=0
	while [ "$poll_i" -lt "$poll_n" ]; do
		"$@" && return 0
		sleep 0.1
		poll_i=$((poll_i + 1))
	done
	return 1
}

# shows TEXT, hides TEXT: grab the screen; does it show TEXT, or not?
shows() {
	grab
	case $screen in *"$1"*) return 0 ;; esac
	return 1
}
hides() { ! shows "$1"; }

# wait_for TEXT: poll the screen until it shows TEXT (~5 s).
wait_for() { poll 50 shows "$1"; }

# wait_gone TEXT: poll until the screen no longer shows TEXT.
wait_gone() { poll 50 hides "$1"; }

# wait_long TEXT: like wait_for, for work that computes every pair (~10 s;
# up to 5 min under the sanitizers on a busy machine).
wait_long() { poll 3000 shows "$1"; }

# wait_exit: until qscope has exited; sets status to its exit status.
exited() {
	[ -f "$tmp/$S.exit" ] || return 1
	status=$(sed -n 's/^EXIT=//p' "$tmp/$S.exit")
}
wait_exit() {
	status=""
	poll 50 exited
}

# at_size W H: the pane is W x H (the screen grabbed if so).
at_size() {
	[ "$(fmt '#{pane_width}x#{pane_height}')" = "$1x$2" ] || return 1
	grab
}

# redrawn W H: at that size, the status line on the last line or the
# too-small message shown.
redrawn() {
	at_size "$1" "$2" || return 1
	case $(line "$2") in *"/"*"quit"*) return 0 ;; esac
	case $screen in *"too small"* | *" < "*) return 0 ;; esac
	return 1
}

# last_shows W H TEXT: at that size, the last line shows TEXT.
last_shows() {
	at_size "$1" "$2" || return 1
	case $(line "$2") in *"$3"*) return 0 ;; esac
	return 1
}

# resize W H: resize and wait until the program has redrawn at that size.
resize() {
	T resize-window -t "$S" -x "$1" -y "$2"
	poll 50 redrawn "$1" "$2"
}

# resize_to W H TEXT: resize and wait until the pane has that size and its
# last line shows TEXT.
resize_to() {
	T resize-window -t "$S" -x "$1" -y "$2"
	poll 50 last_shows "$1" "$2" "$3"
}

# press_until KEY PATTERN: press KEY until line 1 of the screen matches
# PATTERN (grep's), 30 times at the most.
press_until() {
	press_i=0
	while [ $press_i -lt 30 ] && ! line 1 | grep -q -e "$2"; do
		keys "$1"
		sleep 0.1
		grab
		press_i=$((press_i + 1))
	done
}

# expect OK FAIL WHY TEXT [N PATTERN]: when the screen comes to show TEXT
# (and then its line N matches PATTERN, grep's), ok OK; else no FAIL WHY,
# with the screen.
expect() {
	if wait_for "$4" && { [ $# -lt 6 ] || line "$5" | grep -q -e "$6"; }; then
		ok "$1"
	else
		no "$2" "$3" "$screen"
	fi
}

# check_quit KEY OK FAIL: KEY must end qscope with status 0 (under a
# sanitizer, a leak or an error would end it otherwise): ok OK, else no FAIL.
check_quit() {
	keys "$1"
	if wait_exit && [ "$status" = 0 ]; then
		ok "$2"
	else
		grab
		no "$3" "exit status '$status'" "$screen"
	fi
}

# check_Q WHAT: Q quits with status 0.
check_Q() { check_quit Q "$1: Q quits with status 0" "$1: Q"; }

# screen_grep GREP-ARGS...: grep the screen last grabbed.
screen_grep() { printf '%s\n' "$screen" | grep "$@"; }

# back_on_tensors TEXT: TEXT has gone, the tensors screen is back.
back_on_tensors() { wait_gone "$1" && line 1 | grep -q "tensor"; }

maxwidth() { printf '%s\n' "$screen" | "$PY" "$tmp/screen.py" maxwidth "$1"; }

# narrow_check WHAT TITLE LAST: resized to 40x10 (its last line showing
# LAST), nothing is wider than the terminal and line 1 begins with TITLE.
narrow_check() {
	why=""
	if resize_to 40 10 "$3" && why=$(maxwidth 40) &&
		line 1 | grep -q -e "^$2"; then
		ok "$1: 40x10: nothing wider than the terminal"
	else
		no "$1: 40x10" "${why:-no redraw}" "$screen"
	fi
}

# The two ways back from a screen opened over the tensors: Esc, then (after
# opening it again with key $2) q, which must not quit.  $1 names the case,
# $3 is text of the screen's title that the tensors screen does not show.
back_checks() {
	keys Escape
	if back_on_tensors "$3"; then
		ok "$1: Esc goes back to the tensors"
	else
		no "$1: Esc" "not back on the tensors screen" "$screen"
	fi
	keys "$2"
	wait_for "$3"
	keys q
	if back_on_tensors "$3" && [ ! -f "$tmp/$S.exit" ]; then
		ok "$1: q goes back, does not quit"
	else
		no "$1: q" "not back on the tensors screen" "$screen"
	fi
}

# ---- the fixture: header, rows, moving ----

fix=$QS_FIXTURES/safetensors/st-all-dtypes.safetensors
if [ -f "$fix" ]; then
	start 100 30 -- "$fix"
	if ! wait_for "17 tensors"; then
		no "fixture header" "no '17 tensors' header" "$screen"
	elif ! line 1 | grep -q "dtypes.safetensors  safetensors "; then
		no "fixture header" "no path and format on line 1" "$screen"
	else
		ok "fixture header"
	fi
	if line 2 | grep -q "name.*dtype.*shape.*params.*bytes.*share" &&
		line 3 | grep -q "bf16 .*BF16 .*\[32, 64\] .*2\.0K .*4\.0 KiB" &&
		line 10 | grep -q "f64 .*F64 .*\[32, 64\] .*2\.0K .*16\.0 KiB" &&
		line 5 | grep -q "empty .*F32 .*\[0, 4\] .*0 B" &&
		line 30 | grep -q "^ F64 2.0K params 16.0 KiB" &&
		line 30 | grep -q "1/17  ? help  / search  q quit" &&
		[ "$(fmt '#{cursor_y}')" = 2 ]; then
		ok "fixture rows"
	else
		no "fixture rows" "columns, rows, status or cursor wrong (cursor at row $(fmt '#{cursor_y}'))" "$screen"
	fi
	keys j
	if wait_for "2/17" && [ "$(fmt '#{cursor_y}')" = 3 ]; then
		ok "j moves down"
	else
		no "j moves down" "no 2/17 with the cursor on row 3" "$screen"
	fi
	keys q
	if ! wait_exit; then
		no "q quits" "still running after q" "$screen"
	elif [ "$status" != 0 ]; then
		no "q quits" "exit status $status, not 0" "$screen"
	elif [ "$(fmt '#{alternate_on}#{cursor_flag}#{keypad_cursor_flag}')" != 010 ]; then
		no "q quits" "terminal not restored: alternate_on, cursor_flag, keypad_cursor_flag = $(fmt '#{alternate_on}#{cursor_flag}#{keypad_cursor_flag}')"
	else
		ok "q quits with status 0 and restores the terminal"
	fi
else
	skipped "fixture" "no fixture $fix"
fi

# ---- scrolling a long table ----

start 100 30 -- "$tmp/big.safetensors"
# a lone group opens by itself: 'layers' and its 100 tensors
if wait_for "100 tensors" && wait_for "1/101" &&
	line 3 | grep -q "layers .*mixed .*100 tensors" &&
	line 4 | grep -q "^     000.weight .*F32"; then
	ok "big: opens as a tree, the lone group open"
else
	no "big: opens" "no header, status or open group" "$screen"
fi
keys T		# the flat list: one row per tensor, full names
if wait_for "flat, by name" && wait_for "1/100"; then
	ok "T shows the flat list"
else
	no "T" "no flat list" "$screen"
fi
keys End
if wait_for "100/100" && line 29 | grep -q "layers.099.weight" &&
	line 3 | grep -q "layers.073.weight" && [ "$(fmt '#{cursor_y}')" = 28 ]; then
	ok "End shows the last row, selected"
else
	no "End" "want layers.073..099 with the cursor on row 28 (at $(fmt '#{cursor_y}'))" "$screen"
fi
keys PageUp
if wait_for "73/100" && line 3 | grep -q "layers.046.weight" &&
	[ "$(fmt '#{cursor_y}')" = 28 ]; then
	ok "PageUp moves a page up"
else
	no "PageUp" "want 73/100, first row layers.046" "$screen"
fi
keys g
expect "g goes to the first row" "g" "want 1/100" "1/100" 3 "layers.000.weight"
keys C-d
expect "Ctrl-D moves half a page" "Ctrl-D" "want 15/100" "15/100"
keys Space
expect "Space pages down" "Space" "want 42/100, first row layers.041" \
	"42/100" 3 "layers.041.weight"
keys '?'
if wait_for "This screen (tensors)" && wait_for "Navigation" &&
	wait_for "j, Down" && keys End && wait_for "Esc, Backspace"; then
	ok "? shows the keys"
else
	no "?" "no help screen" "$screen"
fi
keys Escape
expect "Esc closes the help, selection kept" "Esc closes the help" \
	"table not back at 42/100" "42/100"

if ! resize 60 20; then
	no "resize to 60x20" "no redraw at 60x20" "$screen"
elif ! why=$(maxwidth 60); then
	no "resize to 60x20" "$why" "$screen"
elif ! line 1 | grep -q "100 tensors" || ! line 20 | grep -q "42/100"; then
	no "resize to 60x20" "header or status line missing" "$screen"
elif c=$(fmt '#{cursor_y}') && [ "$c" -lt 2 ] || [ "$c" -gt 18 ] ||
	! line $((c + 1)) | grep -q "layers.041.weight"; then
	no "resize to 60x20" "selected row not on screen (cursor row $c)" "$screen"
else
	ok "resize to 60x20 relayouts, selection stays on screen"
fi

if ! resize 39 7; then
	no "too small" "no redraw at 39x7" "$screen"
elif ! screen_grep -q "^ *terminal too small: 39x7, need 40x8 *$"; then
	no "too small" "no one-line message" "$screen"
else
	ok "too small: one centered line"
fi
if resize 80 24 && wait_for "42/100" && why=$(maxwidth 80) &&
	line 24 | grep -q "? help  / search  q quit"; then
	ok "back from too small to 80x24"
else
	no "back from too small" "${why:-table not redrawn}" "$screen"
fi
resize 30 5
check_quit q "q quits from the too-small screen" "q when too small"

# ---- 40x10 and 80x24 from the start ----

for size in 40x10 80x24; do
	w=${size%x*}
	h=${size#*x}
	start "$w" "$h" -- "$tmp/big.safetensors"
	if wait_for "1/101" && why=$(maxwidth "$w") &&
		line 2 | grep -q "name .*dtype" && line 3 | grep -q "layers  " &&
		line 4 | grep -q "000.weight" && line "$h" | grep -q "1/101" &&
		[ "$(screen_grep -c '[0-9]\.weight')" -eq $((h - 4)) ]; then
		ok "$size layout"
	else
		no "$size layout" "${why:-rows, header or status wrong}" "$screen"
	fi
	keys Q
	wait_exit
done

# ---- hostile names ----

start 100 30 -- "$tmp/hostile.safetensors"
if ! wait_for "4 tensors"; then
	no "hostile names" "did not open" "$screen"
elif ! screen_grep -qF 'evil\x1b[31mred\x1b]0;pwned\x07.weight'; then
	no "hostile names" "escape sequence not shown as \\x1b text" "$screen"
elif ! screen_grep -qF 'tab\x09here'; then
	no "hostile names" "tab not shown as \\x09" "$screen"
elif ! why=$(printf '%s\n' "$screen" | "$PY" "$tmp/screen.py" aligned F32); then
	no "hostile names" "columns not aligned: $why" "$screen"
elif [ "$(fmt '#{pane_title}')" = pwned ]; then
	no "hostile names" "the name set the terminal title" "$screen"
else
	ok "hostile names: escapes shown, wide characters aligned"
fi
keys q
wait_exit

# ---- colour, NO_COLOR, ASCII ----

start 100 30 -- "$tmp/big.safetensors"
wait_for "1/101"
sgr=$(T capture-pane -e -p -t "$S")
case $sgr in
*"[3"[0-7]"m"* | *"[4"[0-7]"m"* | *";3"[0-7]"m"* | *";4"[0-7]"m"* | *"38;5;"*)
	ok "colour by default" ;;
*) no "colour by default" "no colour in the screen" "$sgr" ;;
esac
keys q
wait_exit

start 100 30 NO_COLOR=1 -- "$tmp/big.safetensors"
wait_for "1/101"
sgr=$(T capture-pane -e -p -t "$S")
case $sgr in
*"[3"[0-7]"m"* | *"[4"[0-7]"m"* | *";3"[0-7]"m"* | *";4"[0-7]"m"* | *"38;5;"* | *"48;5;"*)
	no "NO_COLOR" "colour codes under NO_COLOR" "$sgr" ;;
*"[7m"* | *";7m"* | *"[7;"* | *";7;"*)
	ok "NO_COLOR: no colour, selection in reverse video" ;;
*) no "NO_COLOR" "no reverse video for the selection" "$sgr" ;;
esac
keys q
wait_exit

start 100 30 LC_ALL=C -- "$tmp/big.safetensors"
if ! wait_for "1/101"; then
	no "ASCII" "did not open" "$screen"
elif printf '%s\n' "$screen" | LC_ALL=C grep -q '[^ -~]'; then
	no "ASCII" "non-ASCII characters under LC_ALL=C" "$screen"
elif ! screen_grep -q '%  *#'; then
	no "ASCII" "no '#' bars" "$screen"
else
	ok "ASCII under LC_ALL=C: '#' bars, '|' separators"
fi
keys q
wait_exit

# ---- signals ----

start 80 24 -- "$tmp/big.safetensors"
wait_for "1/100"
check_quit C-c "Ctrl-C quits with status 0" "Ctrl-C"

start 80 24 -- "$tmp/big.safetensors"
wait_for "1/100"
pid=$(cat "$tmp/$S.exit.pid" 2>/dev/null)
if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait_exit &&
	[ "$status" = 143 ] &&
	[ "$(fmt '#{alternate_on}#{cursor_flag}')" = 01 ]; then
	ok "SIGTERM: terminal restored, dies of the signal"
else
	no "SIGTERM" "status '$status', alternate_on+cursor_flag $(fmt '#{alternate_on}#{cursor_flag}')" "$screen"
fi

# ---- no terminal ----

err=$("$QSCOPE" "$tmp/big.safetensors" </dev/null 2>&1 >/dev/null)
rc=$?
case $err in
*"not a terminal"*"qscope list"*)
	if [ $rc -ne 0 ]; then
		ok "no terminal: one-line error, exit $rc"
	else
		no "no terminal" "exit status 0"
	fi ;;
*) no "no terminal" "exit $rc, stderr '$err'" ;;
esac

# ---- cases of each screen, one file each (they use the functions above) ----

for f in tests/screens/cases/*.sh; do
	[ -f "$f" ] || continue
	# shellcheck disable=SC1090
	. "$f"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
