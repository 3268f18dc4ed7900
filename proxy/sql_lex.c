/* sql_lex.c - token boundaries of Postgres SQL (see sql_lex.h), and the pre-filter built on them
 * (sql_prefilter, declared in sql.h; here so that the lexer inlines into its loop). The lexer
 * mirrors scan.l where it decides where strings, identifiers and comments end; everything else
 * is a byte of punctuation. */
#include "sql_lex.h"

#include "sql.h"

#include <stdint.h>
#include <string.h>

typedef struct SqlTok {
    SqlTokKind kind;
    const unsigned char *start, *stop; /* the token's bytes [start, stop) */
} SqlTok;

/* Byte classes of scan.l: space, ident_start, ident_cont (bytes >= 0x80 count as letters). */
enum { SQL_LX_SPACE = 1, SQL_LX_START = 2, SQL_LX_CONT = 4, SQL_LX_DIGIT = 8 };
#define SQL_LX_LETTER (SQL_LX_START | SQL_LX_CONT)
static const unsigned char sql_lex_class[256] = {
    [' '] = SQL_LX_SPACE,
    ['\t'] = SQL_LX_SPACE,
    ['\n'] = SQL_LX_SPACE,
    ['\r'] = SQL_LX_SPACE,
    ['\f'] = SQL_LX_SPACE,
    ['\v'] = SQL_LX_SPACE,
    ['a' ... 'z'] = SQL_LX_LETTER,
    ['A' ... 'Z'] = SQL_LX_LETTER,
    ['_'] = SQL_LX_LETTER,
    [0x80 ... 0xff] = SQL_LX_LETTER,
    ['0' ... '9'] = SQL_LX_CONT | SQL_LX_DIGIT,
    ['$'] = SQL_LX_CONT,
};

static inline bool sql_lex_is_space(unsigned c)
{
    return sql_lex_class[c] & SQL_LX_SPACE;
}

static inline bool sql_lex_ident_start(unsigned c)
{
    return sql_lex_class[c] & SQL_LX_START;
}

static inline bool sql_lex_ident_cont(unsigned c)
{
    return sql_lex_class[c] & SQL_LX_CONT;
}

static inline bool sql_lex_is_digit(unsigned c)
{
    return sql_lex_class[c] & SQL_LX_DIGIT;
}

/* Skip blanks, -- comments and nested block comments from p: where the next token starts, or
 * NULL on an unterminated block comment. */
static const unsigned char *sql_lex_skip_blank(const unsigned char *p, const unsigned char *end)
{
    while (p < end) {
        if (sql_lex_is_space(*p)) {
            p++;
        } else if (*p == '-' && end - p >= 2 && p[1] == '-') {
            while (p < end && *p != '\n' && *p != '\r') /* scan.l: newline is [\n\r] */
                p++;
        } else if (*p == '/' && end - p >= 2 && p[1] == '*') {
            int depth = 1; /* Postgres nests block comments */
            for (p += 2; depth > 0; p++) {
                if (end - p < 2) return NULL;
                if (p[0] == '/' && p[1] == '*') {
                    depth++;
                    p++;
                } else if (p[0] == '*' && p[1] == '/') {
                    depth--;
                    p++;
                }
            }
        } else {
            break;
        }
    }
    return p;
}

/* From the opening quote at p: the byte after the closing one, or NULL when unterminated. A
 * doubled quote is one quote character; with backslash, \x escapes any x (E'...'). */
static const unsigned char *sql_lex_quoted(const unsigned char *p, const unsigned char *end,
                                           unsigned char q, bool backslash)
{
    for (p++; p < end; p++) {
        if (backslash && *p == '\\') {
            if (++p == end) return NULL;
        } else if (*p == q) {
            if (end - p >= 2 && p[1] == q) {
                p++;
                continue;
            }
            return p + 1;
        }
    }
    return NULL;
}

/* At a '$': a parameter, or a dollar-quoted string to its closing tag. Returns its end (NULL:
 * bail) and sets *kind. */
static const unsigned char *sql_lex_dollar(const unsigned char *start, const unsigned char *end,
                                           SqlTokKind *kind)
{
    const unsigned char *p = start + 1;
    if (p < end && sql_lex_is_digit(*p)) {
        while (p < end && sql_lex_is_digit(*p))
            p++;
        *kind = SQL_TOK_PARAM;
        return p;
    }
    /* dolqdelim: $ [ident_start (ident_cont but '$')*] $ */
    if (p < end && sql_lex_ident_start(*p))
        while (p < end && *p != '$' && sql_lex_ident_cont(*p))
            p++;
    if (p >= end || *p != '$') return NULL;
    size_t taglen = (size_t)(p + 1 - start);
    const unsigned char *body = p + 1;
    const unsigned char *close = memmem(body, (size_t)(end - body), start, taglen);
    *kind = SQL_TOK_STRING;
    return close ? close + taglen : NULL;
}

/* A word, or the quoting it prefixes: E'', B'', X'', N'', U&'' and U&"". Returns its end (NULL:
 * bail) and sets *kind. */
static const unsigned char *sql_lex_word(const unsigned char *start, const unsigned char *end,
                                         bool strict, SqlTokKind *kind)
{
    const unsigned char *p = start;
    while (p < end && sql_lex_ident_cont(*p))
        p++;
    *kind = SQL_TOK_WORD;
    if (p - start != 1 || p == end) return p;
    unsigned c = *start | 0x20;
    bool unicode = c == 'u' && *p == '&' && end - p >= 2 && (p[1] == '\'' || p[1] == '"');
    if (unicode && strict) return NULL;
    if (unicode) p++;
    if (*p == '\'' && (c == 'e' || c == 'b' || c == 'x' || c == 'n' || unicode)) {
        *kind = SQL_TOK_STRING;
        return sql_lex_quoted(p, end, '\'', c == 'e');
    }
    if (unicode) { /* U&"ident" */
        *kind = SQL_TOK_QIDENT;
        return sql_lex_quoted(p, end, '"', false);
    }
    return p;
}

/* The next token after blanks and comments from p into *t; returns where lexing goes on (at a
 * bail: p, with t->kind SQL_TOK_BAIL). The cursor travels by value, so that inlined into the
 * loops below it stays in a register. */
static inline __attribute__((always_inline)) const unsigned char *
sql_lex_next(const unsigned char *p, const unsigned char *end, bool strict, SqlTok *t)
{
    const unsigned char *s = sql_lex_skip_blank(p, end), *e;
    SqlTokKind k = SQL_TOK_BAIL;
    if (!s) {
        s = e = NULL;
    } else if (s == end) {
        k = SQL_TOK_END;
        e = s;
    } else if (*s == '\'' || *s == '"') {
        k = *s == '"' ? SQL_TOK_QIDENT : SQL_TOK_STRING;
        e = sql_lex_quoted(s, end, *s, false);
    } else if (*s == '$') {
        e = sql_lex_dollar(s, end, &k);
    } else if (sql_lex_ident_start(*s)) {
        e = sql_lex_word(s, end, strict, &k);
    } else if (sql_lex_is_digit(*s)) {
        for (e = s + 1; e < end && sql_lex_is_digit(*e); e++) {
        }
        k = SQL_TOK_NUMBER;
    } else {
        e = *s ? s + 1 : NULL; /* a NUL byte: bail */
        k = *s == ';' ? SQL_TOK_SEMI : SQL_TOK_OTHER;
    }
    if (!e) {
        t->kind = SQL_TOK_BAIL;
        t->start = t->stop = p;
        return p;
    }
    t->kind = k;
    t->start = s;
    t->stop = e;
    return e;
}

SqlTokKind sql_lex_token(const char *text, size_t len, size_t *pos, size_t *start, size_t *stop)
{
    const unsigned char *b = (const unsigned char *)text, *end = b + len;
    SqlTok t;
    const unsigned char *p = sql_lex_next(b + (*pos < len ? *pos : len), end, false, &t);
    *pos = (size_t)(p - b);
    *start = t.start ? (size_t)(t.start - b) : *pos;
    *stop = t.stop ? (size_t)(t.stop - b) : *pos;
    return t.kind;
}

bool sql_lex_trim(const char *text, size_t *start, size_t *len)
{
    const unsigned char *p = (const unsigned char *)text + *start, *end = p + *len;
    const unsigned char *first = NULL, *last = NULL;
    SqlTok t;
    for (p = sql_lex_next(p, end, false, &t); t.kind != SQL_TOK_END;
         p = sql_lex_next(p, end, false, &t)) {
        if (t.kind == SQL_TOK_BAIL) return false;
        if (!first) first = t.start;
        last = t.stop;
    }
    if (!first) {
        *len = 0;
        return true;
    }
    *start = (size_t)((const char *)first - text);
    *len = (size_t)(last - first);
    return true;
}

/* ---- Pre-filter ---- */

bool sql_lex_word_is(const unsigned char *p, size_t n, const char *w)
{
    if (strlen(w) != n) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned c = p[i] >= 'A' && p[i] <= 'Z' ? p[i] + ('a' - 'A') : p[i];
        if (c != (unsigned char)w[i]) return false; /* w is lowercase */
    }
    return true;
}

/* Whether the word p[0, n) contains "advisory" (pg_advisory_lock, pg_try_advisory_lock...). */
static bool sql_lex_has_advisory(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i + 8 <= n; i++)
        if ((p[i] | 0x20) == 'a' && sql_lex_word_is(p + i, 8, "advisory")) return true;
    return false;
}

/* A word that may change the answer. For a text that starts with SELECT or WITH: locking reads
 * (FOR), SELECT INTO, data-modifying CTEs, functions that write or pin. For one that starts with
 * INSERT, UPDATE or DELETE (a write already) only what pins. Quoted identifiers count too. */
static bool sql_prefilter_danger(const SqlTok *t, bool write)
{
    const unsigned char *p = t->start;
    size_t n = (size_t)(t->stop - t->start);
    if (t->kind == SQL_TOK_QIDENT) {
        p++;
        n -= 2;
    }
    if (sql_lex_has_advisory(p, n)) return true; /* pg_[try_]advisory_lock... */
    if (n == 10) return sql_lex_word_is(p, n, "set_config");
    if (write) return false;
    switch (n) {
    case 3: return sql_lex_word_is(p, n, "for");
    case 4: return sql_lex_word_is(p, n, "into");
    case 5: return sql_lex_word_is(p, n, "merge");
    case 6:
        return sql_lex_word_is(p, n, "insert") || sql_lex_word_is(p, n, "update") ||
               sql_lex_word_is(p, n, "delete") || sql_lex_word_is(p, n, "setval");
    case 7: return sql_lex_word_is(p, n, "nextval");
    case 9: return sql_lex_word_is(p, n, "pg_notify");
    default: return false;
    }
}

/* The first word after blanks, comments and opening parentheses: the statement's kind, or
 * SQL_K_UNKNOWN when the pre-filter does not handle it. *pp moves past it. */
static SqlKind sql_prefilter_start(const unsigned char **pp, const unsigned char *end)
{
    SqlTok t;
    const unsigned char *p = *pp;
    do
        p = sql_lex_next(p, end, true, &t);
    while (t.kind == SQL_TOK_OTHER && *t.start == '(');
    *pp = p;
    if (t.kind != SQL_TOK_WORD) return SQL_K_UNKNOWN;
    size_t n = (size_t)(t.stop - t.start);
    if (sql_lex_word_is(t.start, n, "select") || sql_lex_word_is(t.start, n, "with"))
        return SQL_K_SELECT;
    if (sql_lex_word_is(t.start, n, "insert")) return SQL_K_INSERT;
    if (sql_lex_word_is(t.start, n, "update")) return SQL_K_UPDATE;
    if (sql_lex_word_is(t.start, n, "delete")) return SQL_K_DELETE;
    return SQL_K_UNKNOWN;
}

bool sql_prefilter(const char *text, size_t len, SqlStmt *out)
{
    if (len > UINT32_MAX) return false;
    if (len == 0) text = "";
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    SqlKind kind = sql_prefilter_start(&p, end);
    if (kind == SQL_K_UNKNOWN) return false;
    bool write = kind != SQL_K_SELECT;
    size_t stmt_len = len;
    SqlTok t;
    for (p = sql_lex_next(p, end, true, &t); t.kind != SQL_TOK_END;
         p = sql_lex_next(p, end, true, &t)) {
        if (t.kind == SQL_TOK_BAIL) return false;
        if ((t.kind == SQL_TOK_WORD || t.kind == SQL_TOK_QIDENT) && sql_prefilter_danger(&t, write))
            return false;
        if (t.kind == SQL_TOK_SEMI) {
            /* One statement only: after the first ';' nothing but ';', blanks and comments. */
            stmt_len = (size_t)((const char *)t.start - text);
            do
                p = sql_lex_next(p, end, true, &t);
            while (t.kind == SQL_TOK_SEMI);
            if (t.kind != SQL_TOK_END) return false;
            break;
        }
    }
    *out = (SqlStmt){.kind = kind, .flags = write ? SQL_F_WRITE : 0, .len = (uint32_t)stmt_len};
    return true;
}
