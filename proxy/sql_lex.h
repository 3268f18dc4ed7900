/* sql_lex.h - internal to sql*.c and router*.c: a lexer that knows only what decides where a SQL
 * token starts and ends (blanks, nested comments, the string and identifier quotings, dollar
 * quotes), as Postgres 15's scanner has them with standard_conforming_strings on. Enough for the
 * pre-filter (sql_prefilter, in sql_lex.c with the lexer) to find every word outside strings and
 * comments, to trim a statement's text, and for the router to find the tokens it rewrites. */
#ifndef PGPIN_SQL_LEX_H
#define PGPIN_SQL_LEX_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    SQL_TOK_END,    /* no more tokens */
    SQL_TOK_WORD,   /* unquoted identifier or keyword */
    SQL_TOK_QIDENT, /* "quoted identifier" (start/stop include the quotes) */
    SQL_TOK_STRING, /* any string constant, dollar-quoted too */
    SQL_TOK_PARAM,  /* $n */
    SQL_TOK_NUMBER, /* a run of digits (what follows is lexed on its own) */
    SQL_TOK_SEMI,
    SQL_TOK_OTHER, /* one byte of punctuation or operator */
    SQL_TOK_BAIL,  /* cannot be sure: unterminated quote or comment, NUL byte, a lone '$', or
                    * (strict) a U& quoting whose escapes could spell anything */
} SqlTokKind;

/* The next token of text[0, len) after blanks and comments from offset *pos: its kind, its
 * bytes [*start, *stop), and *pos moved past it (U& quotings are lexed, not refused). */
SqlTokKind sql_lex_token(const char *text, size_t len, size_t *pos, size_t *start, size_t *stop);

/* True when p[0, n) is the word w (lowercase ASCII), ignoring ASCII case. */
bool sql_lex_word_is(const unsigned char *p, size_t n, const char *w);

/* Narrow text[*start, *start + *len) to its first token's start and last token's end (no blanks
 * or comments around it). False when the lexer could not be sure (range unchanged). */
bool sql_lex_trim(const char *text, size_t *start, size_t *len);

#endif
