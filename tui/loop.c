/*
 * tui/loop.c - tui_run(): terminal setup, the one input loop, the view
 * stack, resize, and putting the terminal back on every way out.
 *
 * The loop sleeps in poll() on the terminal and on a self-pipe; signal
 * handlers only set a flag and write a byte to the pipe (and, for SIGWINCH,
 * call ncurses' own handler, which sets ncurses' flag so that the next
 * wget_wch() returns KEY_RESIZE).  Nothing is drawn or freed in a handler.
 *
 * Ways out and what restores the terminal:
 *  - q, Q, Ctrl-C (SIGINT), a hung-up terminal: the loop ends, endwin();
 *    while background work runs, Ctrl-C stops it instead, and a second
 *    Ctrl-C within CTRL_C_AGAIN seconds quits (a screen may well have
 *    queued new work by then);
 *  - SIGTERM, SIGHUP: the same, then the signal is raised again with its
 *    old disposition, so the parent sees how we died;
 *  - exit() from anywhere (an allocation that cannot fail, say): atexit;
 *  - a crash (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT): a handler writes the
 *    terminal's own reset strings and the saved tty modes with
 *    async-signal-safe calls only, then hands the signal on (to the default
 *    action, or to a sanitizer's handler).
 * While curses runs, stderr goes to a temporary file and is copied to the
 * real stderr once the screen is restored, so a message is never lost on
 * the alternate screen (htop's redirectStderr).
 */
#include "tui/tui.h"

#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <curses.h>
#include <term.h>
/* term.h names capabilities as macros; these two clash with our fields. */
#undef lines
#undef columns

#include "tui/colors.h"
#include "tui/keys.h"
#include "tui/worker.h"
#include "views/diff.h"
#include "views/view.h"

/* Below this size the layout is not drawn; one line says so (the floor is
 * low on purpose: a gate at a comfortable size stops people cold). */
#define TUI_MIN_COLS	40
#define TUI_MIN_LINES	8
/* Esc is answered after this many ms unless ESCDELAY says otherwise. */
#define TUI_ESCDELAY	25
/* Views open at once (table, histogram, help, ... ). */
#define TUI_MAX_VIEWS	8
/* While a job runs, the screen is repainted this often (ms). */
#define TUI_TICK_MS	150
/* The longest line read at a prompt (a search). */
#define TUI_INPUT_MAX	256

static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
static const int quit_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define NCRASH (sizeof(crash_signals) / sizeof(crash_signals[0]))
#define NQUIT (sizeof(quit_signals) / sizeof(quit_signals[0]))

/*
 * What must be put back however we leave.  File scope because the atexit
 * hook and the signal handlers reach it; nothing else does.
 */
static struct {
	int active;		/* curses owns the terminal */
	SCREEN *screen;
	struct termios tio;	/* tty modes before curses */
	int have_tio;
	char reset[512];	/* rmcup cnorm sgr0 rmkx, for the crash path */
	size_t reset_len;
	int saved_stderr;	/* the real stderr while fd 2 is captured */
	int capture;		/* the temporary file fd 2 points to, or -1 */
	int wake[2];		/* self-pipe; -1 when closed */
	struct sigaction old_quit[NQUIT];
	struct sigaction old_crash[NCRASH];
	struct sigaction old_winch;	/* ncurses' SIGWINCH handler */
	int signals_set;
} term = { .saved_stderr = -1, .capture = -1, .wake = { -1, -1 } };

static volatile sig_atomic_t got_int;	/* Ctrl-C: acts like q */
static volatile sig_atomic_t got_term;	/* SIGTERM or SIGHUP: its number */

/* ---- async-signal-safe helpers ---- */

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void wake_loop(void)
{
	int saved = errno;

	if (term.wake[1] >= 0) {
		ssize_t r = write(term.wake[1], "", 1);
		(void)r;	/* a full pipe is already awake */
	}
	errno = saved;
}

/* Point fd 2 back at the real stderr and copy what was captured. */
static void stderr_release(void)
{
	char buf[4096];
	ssize_t r;

	if (term.capture < 0)
		return;
	dup2(term.saved_stderr, STDERR_FILENO);
	if (lseek(term.capture, 0, SEEK_SET) == 0)
		while ((r = read(term.capture, buf, sizeof(buf))) > 0)
			write_all(STDERR_FILENO, buf, (size_t)r);
	close(term.capture);
	close(term.saved_stderr);
	term.capture = term.saved_stderr = -1;
}

static void on_quit_signal(int sig)
{
	if (sig == SIGINT)
		got_int = 1;
	else
		got_term = sig;
	wake_loop();
}

static void on_winch(int sig, siginfo_t *info, void *ctx)
{
	int saved = errno;

	if (term.old_winch.sa_flags & SA_SIGINFO) {
		if (term.old_winch.sa_sigaction)
			term.old_winch.sa_sigaction(sig, info, ctx);
	} else if (term.old_winch.sa_handler != SIG_DFL &&
		   term.old_winch.sa_handler != SIG_IGN) {
		term.old_winch.sa_handler(sig);
	}
	wake_loop();
	errno = saved;
}

static void on_crash(int sig, siginfo_t *info, void *ctx)
{
	(void)ctx;
	if (term.active) {
		write_all(STDOUT_FILENO, term.reset, term.reset_len);
		if (term.have_tio)
			tcsetattr(STDIN_FILENO, TCSANOW, &term.tio);
		term.active = 0;
	}
	stderr_release();
	for (size_t i = 0; i < NCRASH; i++)
		if (crash_signals[i] == sig)
			sigaction(sig, &term.old_crash[i], NULL);
	/* A fault from the kernel happens again when we return, now with the
	 * old disposition; a signal sent by raise() or kill() must be sent
	 * again (it stays pending until we return). */
	if (!info || info->si_code <= 0)
		raise(sig);
}

/* ---- setup and teardown ---- */

static void restore_terminal(void)
{
	if (term.active) {
		endwin();
		term.active = 0;
	}
	stderr_release();
}

static void at_exit(void)
{
	restore_terminal();
}

static void stderr_capture(void)
{
	FILE *f = tmpfile();
	int fd;

	if (!f)
		return;		/* messages may be lost; not worth failing */
	fd = dup(fileno(f));
	fclose(f);		/* the file lives on through fd */
	if (fd < 0)
		return;
	term.saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (term.saved_stderr < 0 || dup2(fd, STDERR_FILENO) < 0) {
		if (term.saved_stderr >= 0)
			close(term.saved_stderr);
		close(fd);
		term.saved_stderr = -1;
		return;
	}
	term.capture = fd;
}

static void append_cap(const char *name)
{
	const char *s = tigetstr(name);
	size_t n;

	if (!s || s == (const char *)-1)
		return;
	n = strlen(s);
	if (term.reset_len + n < sizeof(term.reset)) {
		memcpy(term.reset + term.reset_len, s, n);
		term.reset_len += n;
	}
}

static int set_nonblock_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	       fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ? -1 : 0;
}

/* Before newterm(): our SIGINT/SIGTERM/SIGHUP handlers (so ncurses does not
 * install its own, which would _exit(1) from inside the handler). */
static void signals_before(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_quit_signal;
	for (size_t i = 0; i < NQUIT; i++) {
		sigaction(quit_signals[i], NULL, &term.old_quit[i]);
		/* an ignored signal stays ignored (nohup, a background job) */
		if (term.old_quit[i].sa_handler != SIG_IGN)
			sigaction(quit_signals[i], &sa, NULL);
	}

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = on_crash;
	sa.sa_flags = SA_SIGINFO;
	for (size_t i = 0; i < NCRASH; i++)
		sigaction(crash_signals[i], &sa, &term.old_crash[i]);
	term.signals_set = 1;
}

/* After newterm(): wrap ncurses' SIGWINCH handler so that a resize also
 * wakes poll(), with no window between a check and the sleep. */
static void signals_after(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = on_winch;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGWINCH, &sa, &term.old_winch);
}

static void signals_restore(void)
{
	if (!term.signals_set)
		return;
	sigaction(SIGWINCH, &term.old_winch, NULL);
	for (size_t i = 0; i < NQUIT; i++)
		sigaction(quit_signals[i], &term.old_quit[i], NULL);
	for (size_t i = 0; i < NCRASH; i++)
		sigaction(crash_signals[i], &term.old_crash[i], NULL);
	term.signals_set = 0;
}

static int locale_is_utf8(void)
{
	const char *cs = nl_langinfo(CODESET);

	return cs && (strcasecmp(cs, "UTF-8") == 0 || strcasecmp(cs, "UTF8") == 0);
}

/* ---- the view stack ---- */

struct shell {
	struct view stack[TUI_MAX_VIEWS];
	int depth;
	struct view_env env;
	const struct model *model;
	int too_small;
	/* a line being read at the prompt of the top view */
	int reading;
	char input[TUI_INPUT_MAX];
	size_t input_len;
	int mouse;		/* mouse reporting is on */
	int click_y;		/* row of the last press (a double click) */
	double click_t;		/* ... and when */
};

static int push_view(struct shell *sh, const struct view_ops *ops,
		     const void *arg, struct err *e)
{
	struct view *v;

	if (sh->depth == TUI_MAX_VIEWS) {
		err_set(e, "too many screens open");
		return -1;
	}
	v = &sh->stack[sh->depth];
	memset(v, 0, sizeof(*v));
	v->ops = ops;
	v->model = sh->model;
	v->env = &sh->env;
	v->lines = LINES;
	v->cols = COLS;
	v->arg = arg;
	v->state = calloc(1, ops->state_size ? ops->state_size : 1);
	if (!v->state) {
		err_set(e, "out of memory");
		return -1;
	}
	if (ops->enter && ops->enter(v, sh->model, e) < 0) {
		if (ops->leave)
			ops->leave(v);
		free(v->state);
		return -1;
	}
	sh->depth++;
	return 0;
}

static void pop_view(struct shell *sh)
{
	struct view *v = &sh->stack[--sh->depth];

	if (v->ops->leave)
		v->ops->leave(v);
	free(v->state);
	memset(v, 0, sizeof(*v));
}

static void layout(struct shell *sh)
{
	sh->too_small = LINES < TUI_MIN_LINES || COLS < TUI_MIN_COLS;
	for (int i = 0; i < sh->depth; i++) {
		sh->stack[i].lines = LINES;
		sh->stack[i].cols = COLS;
	}
}

static void paint_too_small(struct shell *sh)
{
	static const char *const forms[] = {
		"terminal too small: %dx%d, need %dx%d",
		"too small: %dx%d, need %dx%d",
		"%dx%d < %dx%d",
	};
	char msg[96];
	int len = 0, y = LINES / 2, x;

	/* the longest form that fits */
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		snprintf(msg, sizeof(msg), forms[i], COLS, LINES,
			 TUI_MIN_COLS, TUI_MIN_LINES);
		len = (int)strlen(msg);
		if (len <= COLS)
			break;
	}
	x = COLS > len ? (COLS - len) / 2 : 0;
	wattrset(stdscr, sh->env.attr[CR_WARNING]);
	mvwaddnstr(stdscr, y, x, msg, COLS - x);
	wattrset(stdscr, A_NORMAL);
	wmove(stdscr, y, x);
}

/* The line being read, on the status line: "/text_" (the end shown when
 * it is longer than the line). */
static void paint_prompt(struct shell *sh, const struct view *v)
{
	const char *prompt = v->prompt ? v->prompt : "";
	int y = LINES - 1, room = COLS - 2 - (int)strlen(prompt) - 1;
	const char *text = sh->input;
	char safe[4 * TUI_INPUT_MAX + 1];

	text_sanitize(sh->input, safe, sizeof(safe));
	text = safe;
	if (room < 1)
		room = 1;
	while ((int)strlen(text) > room)
		text++;
	wattrset(stdscr, sh->env.attr[CR_STATUS]);
	mvwhline(stdscr, y, 0, ' ', COLS);
	mvwaddnstr(stdscr, y, 1, prompt, COLS - 2);
	waddstr(stdscr, text);
	wattrset(stdscr, sh->env.attr[CR_SELECTED]);
	waddch(stdscr, ' ');	/* where the next character goes */
	wattrset(stdscr, A_NORMAL);
}

static void paint(struct shell *sh)
{
	werase(stdscr);
	if (sh->too_small) {
		paint_too_small(sh);
	} else {
		const struct view *v = &sh->stack[sh->depth - 1];

		v->ops->draw(v, stdscr);
		wattrset(stdscr, A_NORMAL);
		if (sh->reading)
			paint_prompt(sh, v);
	}
	/* draw() left the cursor on the focused row: park it there */
	wrefresh(stdscr);
}

/* Open ops on top of the stack unless it is already the top view. */
static enum view_effect open_view(struct shell *sh, const struct view_ops *ops,
				  const void *arg, struct err *e)
{
	if (sh->stack[sh->depth - 1].ops == ops)
		return VIEW_NONE;
	if (push_view(sh, ops, arg, e) < 0) {
		beep();		/* out of memory or too deep: stay here */
		return VIEW_NONE;
	}
	return VIEW_REDRAW;
}

/* What tui/ does with an action the view passed on. */
static enum view_effect generic(struct shell *sh, enum action a, struct err *e)
{
	switch (a) {
	case ACT_QUIT:
		return sh->depth > 1 ? VIEW_POP : VIEW_QUIT;
	case ACT_QUIT_ALL:
		return VIEW_QUIT;
	case ACT_BACK:
	case ACT_COLLAPSE:
		return sh->depth > 1 ? VIEW_POP : VIEW_NONE;	/* Esc never quits */
	case ACT_HELP:
		/* the help lists the keys of the screen it was opened from */
		return open_view(sh, &view_help_ops,
				 sh->stack[sh->depth - 1].ops, e);
	case ACT_REDRAW:
		clearok(curscr, TRUE);
		return VIEW_REDRAW;
	case ACT_DOCTOR:
		return open_view(sh, &view_doctor_ops, NULL, e);
	case ACT_META:
		return open_view(sh, &view_meta_ops, NULL, e);
	case ACT_MEMORY:
		return open_view(sh, &view_memory_ops, NULL, e);
	default:
		return VIEW_NONE;
	}
}

/* Sleep until a key, a signal or a hang-up: 1 if the terminal has input, 0
 * for a wake-up by a signal, -1 when the terminal is gone. */
static int wait_input(int timeout_ms)
{
	struct pollfd p[2] = {
		{ .fd = STDIN_FILENO, .events = POLLIN },
		{ .fd = term.wake[0], .events = POLLIN },
	};
	char buf[64];

	if (poll(p, 2, timeout_ms) < 0)
		return errno == EINTR ? 0 : -1;
	if (p[1].revents & POLLIN)
		while (read(term.wake[0], buf, sizeof(buf)) > 0)
			;
	if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))
		return -1;
	return (p[0].revents & POLLIN) != 0;
}

/* A second Ctrl-C this soon after one that stopped work quits. */
#define CTRL_C_AGAIN 3.0
/* Two presses on one row this close together are a double click. */
#define DOUBLE_CLICK 0.4

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* What input_key() is given for Ctrl-C (a signal, not a key). */
#define CTRL_C_KEY	3

/* Read one key: a KEY_* code or a character; 0 for none (nothing
 * waiting), -1 for a character that cannot be bound. */
static int read_key(void)
{
	wint_t wch;
	int r = wget_wch(stdscr, &wch);

	if (r == ERR)
		return 0;
	if (r == KEY_CODE_YES)
		return (int)wch;
	/* characters above KEY_MIN would read as KEY_* codes; none is bound */
	return wch > 0 && wch < KEY_MIN ? (int)wch : -1;
}

/* Apply what a view asked for; 1 when the program must end. */
static int apply(struct shell *sh, enum view_effect eff, int *dirty,
		 struct err *e)
{
	struct view *v = &sh->stack[sh->depth - 1];

	if (eff & VIEW_QUIT)
		return 1;
	if (eff & VIEW_POP) {
		if (sh->depth == 1)
			return 1;
		pop_view(sh);
		*dirty = 1;
	}
	if (eff & VIEW_PUSH && v->push_ops) {
		if (push_view(sh, v->push_ops, v->push_arg, e) < 0)
			beep();
		v->push_ops = NULL;
		*dirty = 1;
	}
	if (eff & VIEW_INPUT && v->ops->input) {
		sh->reading = 1;
		sh->input_len = 0;
		sh->input[0] = '\0';
		*dirty = 1;
	}
	if (eff & VIEW_LAYOUT)
		layout(sh);
	if (eff & (VIEW_REDRAW | VIEW_LAYOUT))
		*dirty = 1;
	return 0;
}

/* A key while a line is read at the prompt. */
static enum view_effect input_key(struct shell *sh, int key)
{
	struct view *v = &sh->stack[sh->depth - 1];
	enum input_event ev = INPUT_EDIT;

	switch (key) {
	case 27:		/* Esc */
	case CTRL_C_KEY:
		ev = INPUT_CANCEL;
		break;
	case '\r':
	case '\n':
	case KEY_ENTER:
		ev = INPUT_DONE;
		break;
	case KEY_BACKSPACE:
	case 127:
	case 8:
		if (sh->input_len == 0) {
			ev = INPUT_CANCEL;	/* as in less and vim */
			break;
		}
		/* drop the last UTF-8 character */
		do
			sh->input_len--;
		while (sh->input_len > 0 &&
		       ((unsigned char)sh->input[sh->input_len] & 0xc0) == 0x80);
		sh->input[sh->input_len] = '\0';
		break;
	case 21:		/* Ctrl-U: the whole line */
		sh->input_len = 0;
		sh->input[0] = '\0';
		break;
	default: {
		char mb[MB_LEN_MAX];
		mbstate_t ps;
		size_t k;

		if (key < 32 || key >= KEY_MIN)
			return VIEW_NONE;	/* other keys do nothing here */
		memset(&ps, 0, sizeof(ps));
		k = wcrtomb(mb, (wchar_t)key, &ps);
		if (k == (size_t)-1 || sh->input_len + k >= TUI_INPUT_MAX)
			return VIEW_NONE;
		memcpy(sh->input + sh->input_len, mb, k);
		sh->input_len += k;
		sh->input[sh->input_len] = '\0';
		break;
	}
	}
	if (ev != INPUT_EDIT)
		sh->reading = 0;
	return v->ops->input(v, sh->input, ev) | VIEW_REDRAW;
}

/* A mouse event: wheel scrolls, a click or a double click goes to the
 * view. */
static enum view_effect mouse_event(struct shell *sh)
{
	struct view *v = &sh->stack[sh->depth - 1];
	enum view_effect eff = VIEW_NONE;
	MEVENT ev;

	if (getmouse(&ev) != OK)
		return VIEW_NONE;
#ifdef BUTTON5_PRESSED
	if (ev.bstate & (BUTTON4_PRESSED | BUTTON5_PRESSED)) {
		enum action a = ev.bstate & BUTTON4_PRESSED ? ACT_MOVE_UP :
			ACT_MOVE_DOWN;

		for (int i = 0; i < 3; i++)
			eff |= v->ops->act(v, a) & ~VIEW_PASS;
		return eff;
	}
#endif
	if (!v->ops->mouse)
		return VIEW_NONE;
	if (ev.bstate & BUTTON1_DOUBLE_CLICKED)
		return v->ops->mouse(v, ev.y, ev.x, MOUSE_DOUBLE);
	if (ev.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED)) {
		/* With mouseinterval(0) ncurses reports presses only, never
		 * a double click: a second press on the same row soon after
		 * the first is one. */
		double t = seconds();
		int dbl = ev.y == sh->click_y &&
			  t - sh->click_t < DOUBLE_CLICK;

		sh->click_y = dbl ? -1 : ev.y;
		sh->click_t = t;
		return v->ops->mouse(v, ev.y, ev.x,
				     dbl ? MOUSE_DOUBLE : MOUSE_CLICK);
	}
	return VIEW_NONE;
}

static int loop(struct shell *sh, struct err *e)
{
	int dirty = 1, idle = 0;
	double last_cancel = -1e9;

	for (;;) {
		enum view_effect eff;
		struct view *top = &sh->stack[sh->depth - 1];
		enum action a;
		int key, busy;

		if (got_term)
			return 0;
		if (got_int) {
			got_int = 0;
			if (sh->reading) {
				eff = input_key(sh, CTRL_C_KEY);
			} else if (worker_busy() &&
				   seconds() - last_cancel > CTRL_C_AGAIN) {
				/* Ctrl-C cancels the running work first */
				worker_cancel_all();
				last_cancel = seconds();
				dirty = 1;
				continue;
			} else {
				/* ... and quits cleanly from idle */
				return 0;
			}
			if (apply(sh, eff, &dirty, e))
				return 0;
			continue;
		}
		busy = worker_busy();
		if (top->ops->poll && !sh->too_small)
			if (apply(sh, top->ops->poll(top), &dirty, e))
				return 0;
		if (dirty) {
			paint(sh);
			dirty = 0;
		}
		key = read_key();
		if (key == 0) {
			int r = wait_input(busy ? TUI_TICK_MS : -1);

			/* a terminal that says it has input but yields
			 * no key, again and again, is a dead one */
			idle = r > 0 ? idle + 1 : 0;
			if (r < 0 || idle > 1000)
				return 0;
			if (r == 0)
				dirty = 1;	/* a tick, a job ended: repaint */
			continue;
		}
		idle = 0;
		if (key == KEY_RESIZE) {
			layout(sh);
			dirty = 1;
			continue;
		}
		if (sh->too_small) {
			/* only what makes sense without a layout */
			a = keys_action(key);
			if (a == ACT_QUIT || a == ACT_QUIT_ALL)
				return 0;
			if (a == ACT_REDRAW) {
				clearok(curscr, TRUE);
				dirty = 1;
			}
			continue;
		}
		if (key == KEY_MOUSE) {
			eff = mouse_event(sh);
		} else if (sh->reading) {
			eff = input_key(sh, key);
		} else {
			a = keys_action(key);
			if (a == ACT_NONE)
				continue;
			eff = top->ops->act(top, a);
			if (eff & VIEW_PASS)
				eff = generic(sh, a, e);
		}
		if (apply(sh, eff, &dirty, e))
			return 0;
	}
}

/* batch: the command that prints what the screen would show. */
static int check_terminal(const char *batch, struct err *e)
{
	const char *t = getenv("TERM");

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		err_set(e, "not a terminal; use '%s' for a listing", batch);
		return -1;
	}
	if (!t || !*t || strcmp(t, "dumb") == 0) {
		err_set(e, "not a terminal (TERM is %s); use '%s' for a listing",
			t && *t ? "'dumb'" : "not set", batch);
		return -1;
	}
	return 0;
}

/* The browser on m with bottom (given arg) as the bottom view. */
static int run(struct model *m, const struct view_ops *bottom,
	       const void *arg, const struct tui_options *o, struct err *e)
{
	static int atexit_done;
	struct shell sh;
	int rc = 0, sig;

	if (check_terminal(bottom == &view_diff_ops ? "qscope diff A B" :
			   "qscope list PATH", e) < 0)
		return -1;
	/* Characters only: LC_NUMERIC stays "C" for every number we print. */
	setlocale(LC_CTYPE, "");

	memset(&sh, 0, sizeof(sh));
	sh.model = m;
	sh.env.ascii = o->ascii || !locale_is_utf8();
	sh.env.keys = keys_of;
	sh.env.job_start = worker_start;
	sh.env.job_stop = worker_stop;
	sh.env.plan = o->plan;
	got_int = got_term = 0;

	if (pipe(term.wake) < 0 || set_nonblock_cloexec(term.wake[0]) < 0 ||
	    set_nonblock_cloexec(term.wake[1]) < 0) {
		err_set(e, "cannot create a pipe: %s", strerror(errno));
		rc = -1;
		goto fail_pipe;
	}
	term.have_tio = tcgetattr(STDIN_FILENO, &term.tio) == 0;
	if (!atexit_done && atexit(at_exit) == 0)
		atexit_done = 1;
	signals_before();
	stderr_capture();

	term.screen = newterm(NULL, stdout, stdin);
	if (!term.screen) {
		char t[64];

		stderr_release();
		err_set(e, "cannot use terminal type '%s'; use 'qscope list "
			"PATH' for a listing",
			text_sanitize(getenv("TERM"), t, sizeof(t)));
		rc = -1;
		goto fail_term;
	}
	term.active = 1;
	term.reset_len = 0;
	append_cap("rmcup");
	append_cap("rmkx");
	append_cap("sgr0");
	append_cap("cnorm");
	signals_after();

	if (!getenv("ESCDELAY"))
		set_escdelay(TUI_ESCDELAY);
	cbreak();		/* keep Ctrl-C and Ctrl-Z as signals */
	noecho();
	nonl();
	intrflush(stdscr, FALSE);
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	leaveok(stdscr, FALSE);
	curs_set(0);		/* parked on the selected row, but not drawn */
	colors_init(o->color, sh.env.attr);

	layout(&sh);
	if (!o->no_mouse) {
		mouseinterval(0);	/* clicks arrive at once, no waiting */
		sh.mouse = mousemask(BUTTON1_CLICKED | BUTTON1_DOUBLE_CLICKED |
				     BUTTON1_PRESSED
#ifdef BUTTON5_PRESSED
				     | BUTTON4_PRESSED | BUTTON5_PRESSED
#endif
				     , NULL) != 0;
	}
	/* the worker wakes poll() through the same pipe as the signals;
	 * without a thread, jobs run on this one (slower, still correct) */
	worker_init(term.wake[1]);
	if (push_view(&sh, bottom, arg, e) < 0)
		rc = -1;
	else
		loop(&sh, e);
	/* stop the jobs before the views that own them go */
	worker_cancel_all();
	while (sh.depth > 0)
		pop_view(&sh);
	worker_shutdown();
	if (sh.mouse)
		mousemask(0, NULL);

	restore_terminal();
	delscreen(term.screen);
	term.screen = NULL;
fail_term:
	signals_restore();
fail_pipe:
	if (term.wake[0] >= 0)
		close(term.wake[0]);
	if (term.wake[1] >= 0)
		close(term.wake[1]);
	term.wake[0] = term.wake[1] = -1;
	sig = got_term;
	if (sig) {
		/* Die of the signal we were sent, now that the screen is back. */
		signal(sig, SIG_DFL);
		raise(sig);
	}
	return rc;
}

int tui_run(struct model *m, const struct tui_options *o, struct err *e)
{
	return run(m, &view_tensors_ops, NULL, o, e);
}

int tui_run_diff(struct model *a, struct model *b,
		 const struct tui_options *o, struct err *e)
{
	struct diff_arg arg = { a, b };

	/* A is the reference: the other screens (metadata, doctor) show it */
	return run(a, &view_diff_ops, &arg, o, e);
}
