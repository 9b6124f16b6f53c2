/*
 * faultmode.c — the daemon's power-cut mode, for crash tests only.
 *
 * When the environment variable LSMFS_TEST_POWERCUT is set (to a seed: a
 * decimal number, e.g. 1), the store is opened behind the store's
 * fault-injecting env (lsm_fault_env_create over the POSIX env), which
 * remembers how much of every file a sync made durable.  A thread waits
 * for SIGUSR1; on it the daemon cuts the power: lsm_fault_apply_crash_now
 * fails every later I/O of the store, then cuts each file to what a real
 * power cut would leave (its synced bytes plus a torn prefix of the rest
 * chosen from the seed; files whose creation was not made durable by a
 * directory sync vanish), and the process ends at once with _exit(0), so
 * the kernel sees the FUSE connection end as after a crash.  The test then
 * unmounts, remounts normally and checks that everything fsync-ed is there.
 *
 * Without the variable nothing here does anything: no env, no thread, no
 * signal mask; the daemon is byte for byte the normal one.  Never set it
 * outside tests: SIGUSR1 then destroys every write not yet synced.
 *
 * Threads: fs_faultmode_start runs in the daemon's process (after the
 * fork) before the store or libfuse start any thread; it blocks SIGUSR1 in
 * the calling thread, so that every thread created later inherits the
 * mask and only the cutter thread, in sigwait, receives the signal.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

#define FAULTMODE_VAR "LSMFS_TEST_POWERCUT"

/* Set once by fs_faultmode_start, then only read (by the cutter). */
static lsm_env *fault_env;
static uint64_t fault_seed;

/* Waits for SIGUSR1 (blocked in every thread), cuts the power, exits. */
static void *cutter_main(void *arg)
{
	sigset_t *set = arg;
	int sig = 0;

	while (sigwait(set, &sig) || sig != SIGUSR1)
		;
	(void)lsm_fault_apply_crash_now(fault_env, fault_seed);
	_exit(0);
	return NULL;
}

int fs_faultmode_start(struct fs_config *cfg)
{
	static sigset_t set;
	const char *v = getenv(FAULTMODE_VAR);
	pthread_t t;
	char *end;
	int rc;

	if (!v || !*v)
		return 0;
	errno = 0;
	fault_seed = strtoull(v, &end, 10);
	if (errno || *end) {
		fprintf(stderr, "lsmfs: %s=%s: not a number\n", FAULTMODE_VAR, v);
		return EINVAL;
	}
	if (lsm_fault_env_create(lsm_env_posix(), &fault_env)) {
		fprintf(stderr, "lsmfs: %s: %s\n", FAULTMODE_VAR, lsm_last_error());
		return ENOMEM;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	if ((rc = pthread_sigmask(SIG_BLOCK, &set, NULL)) ||
	    (rc = pthread_create(&t, NULL, cutter_main, &set))) {
		fprintf(stderr, "lsmfs: %s: %s\n", FAULTMODE_VAR, strerror(rc));
		fault_env->destroy(fault_env);
		fault_env = NULL;
		return rc;
	}
	pthread_detach(t);
	cfg->env = fault_env;
	return 0;
}
