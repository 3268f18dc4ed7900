/* log.c - stderr logger. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static atomic_int log_level = CFG_LOG_INFO;

void log_set_level(CfgLogLevel level)
{
    atomic_store(&log_level, (int)level);
}

int log_enabled(CfgLogLevel level)
{
    return (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

void log_write(CfgLogLevel level, const char *tag, const char *fmt, ...)
{
    static const char *names[] = {"ERROR", "WARNING", "LOG", "DEBUG"};
    if (!log_enabled(level)) return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02d %02d:%02d:%02d.%03ld UTC %s %s%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, names[level], tag ? tag : "", tag ? " " : "");
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One fputs per line so lines from different threads do not interleave. */
    fprintf(stderr, "%s\n", line);
}
