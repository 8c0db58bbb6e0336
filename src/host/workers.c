/*
 * workers.c - fanout workers: one thread per ring (or per share of files),
 * each with its own LuaJIT state.
 *
 * The parent (lua/pktsh/parallel.lua) opens the rings, serialises a job
 * (script path, arg, the call's arguments) and calls pktsh_workers_start.
 * Each thread makes a fresh state with the compiled-in library and runs
 * require("pktsh.host.parallel").worker_main(), which re-runs the script up to
 * its pktsh.parallel call, runs the work function on the thread's ring,
 * and hands back one serialised string with pktsh_worker_done. Nothing
 * Lua-level crosses threads: only the job string in and one string out,
 * and, while it runs, the latest snapshot a worker published (a string
 * under the group's lock, read by the parent when it likes).
 *
 * Worker threads block every signal the host handles (SIGINT, SIGTERM,
 * SIGALRM, and readline's: pktsh_signals_host_set), from their first
 * instruction (the mask is inherited from pktsh_workers_start) and again
 * in worker_main, so the kernel delivers those only to the main thread;
 * workers see a stop through pktsh_stopping() (process-wide) or
 * pktsh_worker_stopping() (this group, set by pktsh_workers_stop).
 */
#include <lauxlib.h>
#include <lualib.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "err.h"
#include "host.h"

#define MAX_WORKERS 1024

struct worker {
	struct pktsh_workers *group;
	pthread_t thread;
	int started;
	int32_t index;             /* 1-based */
	struct pktsh_ring *ring;
	int32_t status;            /* enum pktsh_worker_status */
	char *out;                 /* result or error text, malloc'd */
	size_t out_len;
	char *snap;                /* the latest published snapshot, under mu */
	size_t snap_len;
};

struct pktsh_workers {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int32_t n;
	int32_t running;
	atomic_int stop;
	int joined;
	char *job;
	size_t job_len;
	struct worker wk[];
};

static __thread struct worker *self;
static int jobs = 1;

void pktsh_jobs_set(int n)
{
	jobs = n;
}

int32_t pktsh_jobs(void)
{
	return jobs;
}

uint32_t pktsh_fanout_group_new(void)
{
	static atomic_uint seq;
	uint32_t id = ((uint32_t)getpid() * 2654435761u) >> 16;

	/* 16 bits, never 0: the pid spreads processes, seq calls in one. */
	id = (id + atomic_fetch_add(&seq, 1)) & 0xffff;
	return id ? id : 1;
}

static void set_out(struct worker *wk, int32_t status, const char *data, size_t len)
{
	char *copy = malloc(len + 1);

	free(wk->out);
	wk->out = NULL;
	wk->out_len = 0;
	if (!copy) {
		static const char oom[] = "out of memory keeping the worker's result";

		copy = malloc(sizeof(oom));
		if (copy)
			memcpy(copy, oom, sizeof(oom));
		wk->status = PKTSH_WORKER_FAILED;
		wk->out = copy;
		wk->out_len = copy ? sizeof(oom) - 1 : 0;
		return;
	}
	memcpy(copy, data, len);
	copy[len] = '\0';
	wk->out = copy;
	wk->out_len = len;
	wk->status = status;
}

int pktsh_worker_self(struct pktsh_worker_info *out)
{
	if (!self)
		return -1;
	memset(out, 0, sizeof(*out));
	out->index = self->index;
	out->count = self->group->n;
	out->ring = self->ring;
	out->job = self->group->job;
	out->job_len = self->group->job_len;
	return 0;
}

int pktsh_worker_stopping(void)
{
	return self ? atomic_load(&self->group->stop) : 0;
}

int pktsh_worker_done(int32_t status, const char *data, size_t len)
{
	if (!self || self->status != PKTSH_WORKER_RUNNING)
		return -1;
	set_out(self, status == PKTSH_WORKER_OK ? PKTSH_WORKER_OK : PKTSH_WORKER_FAILED,
		data, len);
	return 0;
}

int pktsh_worker_publish(const char *data, size_t len)
{
	struct pktsh_workers *g;
	char *copy;

	if (!self)
		return -1;
	copy = malloc(len ? len : 1);
	if (!copy)
		return -1;
	memcpy(copy, data, len);
	g = self->group;
	pthread_mutex_lock(&g->mu);
	free(self->snap);
	self->snap = copy;
	self->snap_len = len;
	pthread_mutex_unlock(&g->mu);
	return 0;
}

int64_t pktsh_workers_snapshot(struct pktsh_workers *g, int32_t i, char *buf, size_t cap)
{
	struct worker *wk;
	int64_t n = -1;

	if (i < 1 || i > g->n)
		return -1;
	wk = &g->wk[i - 1];
	pthread_mutex_lock(&g->mu);
	if (wk->snap) {
		n = (int64_t)wk->snap_len;
		if (buf && wk->snap_len <= cap)
			memcpy(buf, wk->snap, wk->snap_len);
	}
	pthread_mutex_unlock(&g->mu);
	return n;
}

static int boot(lua_State *L)
{
	luaL_openlibs(L);
	pktsh_setup_package(L);
	lua_getglobal(L, "require");
	lua_pushliteral(L, "pktsh.host.parallel");
	lua_call(L, 1, 1);
	lua_getfield(L, -1, "worker_main");
	return 1;
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct pktsh_workers *g = wk->group;
	sigset_t host;
	lua_State *L;
	int status;

	pktsh_signals_host_set(&host);
	pthread_sigmask(SIG_BLOCK, &host, NULL);
	self = wk;
	L = pktsh_newstate();
	if (!L) {
		static const char msg[] = "cannot create a Lua state (out of memory)";

		set_out(wk, PKTSH_WORKER_FAILED, msg, sizeof(msg) - 1);
	} else {
		lua_pushcfunction(L, boot);
		status = lua_pcall(L, 0, 1, 0);
		if (status == 0)
			status = pktsh_run_chunk(L, 0, 0, 0);
		if (status && wk->status == PKTSH_WORKER_RUNNING) {
			size_t len = 0;
			const char *msg = lua_tolstring(L, -1, &len);

			if (!msg)
				msg = "(error object is not a string)", len = strlen(msg);
			set_out(wk, PKTSH_WORKER_FAILED, msg, len);
		} else if (wk->status == PKTSH_WORKER_RUNNING) {
			static const char msg[] = "the worker ended without a result";

			set_out(wk, PKTSH_WORKER_FAILED, msg, sizeof(msg) - 1);
		}
		lua_close(L);
	}
	self = NULL;
	/* One failure fails the call: the others need not go on. */
	if (wk->status == PKTSH_WORKER_FAILED)
		atomic_store(&g->stop, 1);
	pthread_mutex_lock(&g->mu);
	g->running--;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

static void join_all(struct pktsh_workers *g)
{
	int32_t i;

	if (g->joined)
		return;
	for (i = 0; i < g->n; i++)
		if (g->wk[i].started)
			pthread_join(g->wk[i].thread, NULL);
	g->joined = 1;
}

int pktsh_workers_start(struct pktsh_workers **out, int32_t n,
			struct pktsh_ring *const *rings, const char *job,
			size_t job_len, struct pktsh_err *err)
{
	struct pktsh_workers *g;
	sigset_t block, old;
	int32_t i;
	int rc = 0;

	*out = NULL;
	if (n < 1 || n > MAX_WORKERS) {
		pktsh_err_set(err, EINVAL, "workers must be between 1 and %d, not %d",
			      MAX_WORKERS, (int)n);
		return -1;
	}
	/* -Z drops while this is the only thread (privs.c): workers reading
	 * files open them as the -Z user. */
	if (pktsh_privdrop(err))
		return -1;
	g = calloc(1, sizeof(*g) + (size_t)n * sizeof(g->wk[0]));
	if (g)
		g->job = malloc(job_len + 1);
	if (!g || !g->job) {
		free(g);
		pktsh_err_set(err, ENOMEM, "cannot start %d workers: out of memory", (int)n);
		return -1;
	}
	memcpy(g->job, job, job_len);
	g->job[job_len] = '\0';
	g->job_len = job_len;
	g->n = n;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	atomic_init(&g->stop, 0);

	/* The threads inherit this mask: signals go to the main thread. */
	pktsh_signals_host_set(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (i = 0; i < n; i++) {
		struct worker *wk = &g->wk[i];

		wk->group = g;
		wk->index = i + 1;
		wk->ring = rings ? rings[i] : NULL;
		wk->status = PKTSH_WORKER_RUNNING;
		pthread_mutex_lock(&g->mu);
		g->running++;
		pthread_mutex_unlock(&g->mu);
		rc = pthread_create(&wk->thread, NULL, worker_main, wk);
		if (rc) {
			pthread_mutex_lock(&g->mu);
			g->running--;
			pthread_mutex_unlock(&g->mu);
			break;
		}
		wk->started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (i < n) {
		pktsh_err_set(err, rc, "cannot start worker %d of %d: %s",
			      (int)i + 1, (int)n, strerror(rc));
		pktsh_workers_close(g);
		return -1;
	}
	*out = g;
	return 0;
}

int pktsh_workers_wait(struct pktsh_workers *g, int32_t timeout_ms)
{
	struct timespec until;
	int32_t running;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&g->mu);
	while (g->running > 0 &&
	       pthread_cond_timedwait(&g->cv, &g->mu, &until) != ETIMEDOUT)
		;
	running = g->running;
	pthread_mutex_unlock(&g->mu);
	if (running == 0)
		join_all(g);
	return running;
}

void pktsh_workers_stop(struct pktsh_workers *g)
{
	atomic_store(&g->stop, 1);
}

int32_t pktsh_workers_result(const struct pktsh_workers *g, int32_t i,
			     const char **data, size_t *len)
{
	const struct worker *wk;

	*data = NULL;
	*len = 0;
	if (i < 1 || i > g->n || !g->joined)
		return PKTSH_WORKER_RUNNING;
	wk = &g->wk[i - 1];
	*data = wk->out;
	*len = wk->out_len;
	return wk->status;
}

void pktsh_workers_close(struct pktsh_workers *g)
{
	int32_t i;

	if (!g)
		return;
	atomic_store(&g->stop, 1);
	join_all(g);
	for (i = 0; i < g->n; i++) {
		free(g->wk[i].out);
		free(g->wk[i].snap);
	}
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g->job);
	free(g);
}
