/* log.h - level-gated logging to stderr, each line prefixed with time, level and a tag
 * naming the connection (C-12 for clients, S-7 for servers). */
#ifndef PGPIN_LOG_H
#define PGPIN_LOG_H

#include "config.h"

/* The level is process-wide (set from config on load/reload); the only mutable global pgpin
 * keeps, as an atomic, because every thread logs. */
void log_set_level(CfgLogLevel level);
int log_enabled(CfgLogLevel level);

void log_write(CfgLogLevel level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(tag, ...) log_write(CFG_LOG_ERROR, tag, __VA_ARGS__)
#define log_warn(tag, ...)  log_write(CFG_LOG_WARNING, tag, __VA_ARGS__)
#define log_info(tag, ...)                                                                         \
    do {                                                                                           \
        if (log_enabled(CFG_LOG_INFO)) log_write(CFG_LOG_INFO, tag, __VA_ARGS__);                  \
    } while (0)
#define log_debug(tag, ...)                                                                        \
    do {                                                                                           \
        if (log_enabled(CFG_LOG_DEBUG)) log_write(CFG_LOG_DEBUG, tag, __VA_ARGS__);                \
    } while (0)

#endif
