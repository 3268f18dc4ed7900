/* fuzz_config.c - libFuzzer target: the input as an INI config through cfg_load_string (a
 * NUL-terminated copy, cut at the first NUL as a C string would be), then cfg_unref. A config
 * that loads is also dumped and looked up, as SHOW CONFIG and the login path do. */
#include "config.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), err[1024];
    FUZZ_ASSERT(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    Config *cfg = cfg_load_string(text, "fuzz.ini", err, sizeof err);
    free(text);
    if (!cfg) {
        FUZZ_ASSERT(memchr(err, 0, sizeof err) != NULL && err[0] != '\0');
        return 0;
    }
    FUZZ_ASSERT(atomic_load(&cfg->refs) == 1 && cfg->ndbs >= 0);
    char *dump = cfg_dump(cfg);
    free(dump);
    for (int i = 0; i < cfg->ndbs; i++)
        FUZZ_ASSERT(cfg_find_db(cfg, cfg->dbs[i].name) != NULL);
    (void)cfg_is_admin_user(cfg, "postgres");
    char changed[256];
    /* A snapshot equals itself: a reload of the same text must not ask for a restart. */
    FUZZ_ASSERT(cfg_restart_keys_changed(cfg, cfg, changed, sizeof changed) == 0);
    cfg_unref(cfg);
    return 0;
}
