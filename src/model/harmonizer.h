/* harmonizer.h — the learnt harmoniser's place in a model file (internal:
 * src/model/model.c reads and writes it with the model). */
#ifndef GM_HARMONIZER_H
#define GM_HARMONIZER_H
#include "getmusic.h"
#include "gguf.h"
/* 0 with *out NULL when the file has no harmoniser; -1 with err when it has a
 * broken one (wrong sizes, missing or non-finite tensors). */
int  gm_harmonizer_read(const gguf_ctx *g, gm_harmonizer **out, char *err);
int  gm_harmonizer_write(const gm_harmonizer *h, gguf_writer *w);
void gm_harmonizer_free(gm_harmonizer *h);
#endif
