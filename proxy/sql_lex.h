/* sql_lex.h - internal to sql*.c: a lexer that knows only what decides where a SQL token starts
 * and ends (blanks, nested comments, the string and identifier quotings, dollar quotes), as
 * Postgres 15's scanner has them with standard_conforming_strings on. Enough for the pre-filter
 * (sql_prefilter, in sql_lex.c with the lexer) to find every word outside strings and comments,
 * and to trim a statement's text. */
#ifndef PGPIN_SQL_LEX_H
#define PGPIN_SQL_LEX_H

#include <stdbool.h>
#include <stddef.h>

/* True when p[0, n) is the word w (lowercase ASCII), ignoring ASCII case. */
bool sql_lex_word_is(const unsigned char *p, size_t n, const char *w);

/* Narrow text[*start, *start + *len) to its first token's start and last token's end (no blanks
 * or comments around it). False when the lexer could not be sure (range unchanged). */
bool sql_lex_trim(const char *text, size_t *start, size_t *len);

#endif
