// What it costs on this machine to wake another process: one byte to a child over a pipe and back,
// 50,000 times, the two on one CPU or on two (and on two with the other CPU kept busy by a spinner);
// then the same with a thread of the same process in place of the child.
// docs/performance.md, "The floor". Not part of `npm run bench` (it needs a C compiler):
//   gcc -O2 -pthread -o /tmp/wakeup bench/wakeup.c && /tmp/wakeup
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { ROUND_TRIPS = 50000 };

static int to_child[2], to_parent[2];
static int peer_cpu;

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static double cpu_seconds(int who) {
  struct rusage r;
  getrusage(who, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec * 1e-6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec * 1e-6;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

// A figure labelled "two CPUs" must be one: a cpuset without CPU 1 stops the program instead.
static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity (two CPUs, 0 and 1, are needed)");
}

// A forked helper dies with the program, however the program ends.
static void die_with_parent(void) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("prctl");
}

static void *echo(void *unused) {
  char byte;
  (void)unused;
  pin(peer_cpu);
  for (int i = 0; i < ROUND_TRIPS; i++) {
    if (read(to_child[0], &byte, 1) != 1 || write(to_parent[1], &byte, 1) != 1) break;
  }
  return NULL;
}

static void measure(const char *label, int cpu, int busy_cpu, int thread) {
  char byte = 'x';
  pthread_t echo_thread;
  pid_t spinner = -1, child = -1;
  peer_cpu = cpu;
  if (pipe(to_child) != 0 || pipe(to_parent) != 0) die("pipe");
  if (busy_cpu >= 0) {
    if ((spinner = fork()) < 0) die("fork");
    if (spinner == 0) {
      die_with_parent();
      pin(busy_cpu);
      for (volatile unsigned long n = 0;; n++) {}
    }
  }
  if (thread) {
    if (pthread_create(&echo_thread, NULL, echo, NULL) != 0) die("pthread_create");
  } else {
    if ((child = fork()) < 0) die("fork");
    if (child == 0) {
      die_with_parent();
      close(to_child[1]);
      close(to_parent[0]);
      echo(NULL);
      _exit(0);
    }
    // Only the child's ends stay open there: if it dies, the parent reads end-of-file, not forever.
    close(to_child[0]);
    close(to_parent[1]);
  }
  double t0 = seconds(), c0 = cpu_seconds(RUSAGE_SELF), k0 = cpu_seconds(RUSAGE_CHILDREN);
  int done = 0;
  for (; done < ROUND_TRIPS; done++) {
    if (write(to_child[1], &byte, 1) != 1 || read(to_parent[0], &byte, 1) != 1) break;
  }
  double t1 = seconds();
  if (thread) pthread_join(echo_thread, NULL);
  else waitpid(child, NULL, 0);
  // Both sides: with a thread, RUSAGE_SELF has both; with a child, RUSAGE_CHILDREN adds it once reaped
  // (the spinner is reaped after this).
  double c1 = cpu_seconds(RUSAGE_SELF), k1 = cpu_seconds(RUSAGE_CHILDREN);
  if (spinner > 0) {
    kill(spinner, SIGKILL);
    waitpid(spinner, NULL, 0);
  }
  close(to_child[1]);
  close(to_parent[0]);
  if (thread) {
    close(to_child[0]);
    close(to_parent[1]);
  }
  if (done < ROUND_TRIPS) {
    fprintf(stderr, "%s: the echo stopped after %d round trips\n", label, done);
    exit(1);
  }
  printf("%-42s %5.1f µs wall, %5.1f µs of CPU (both sides) per round trip\n", label, (t1 - t0) / ROUND_TRIPS * 1e6, (c1 - c0 + k1 - k0) / ROUND_TRIPS * 1e6);
}

int main(void) {
  pin(0);
  measure("process: both on CPU 0", 0, -1, 0);
  measure("process: sender on CPU 0, child on CPU 1", 1, -1, 0);
  measure("process: the same, CPU 1 also kept busy", 1, 1, 0);
  measure("thread: both on CPU 0", 0, -1, 1);
  measure("thread: sender on CPU 0, echo on CPU 1", 1, -1, 1);
  return 0;
}
