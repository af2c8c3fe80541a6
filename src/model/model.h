/* model.h — internal access to a gm_model's network. */
#ifndef GM_MODEL_H
#define GM_MODEL_H
#include "getdiff.h"
#include "getmusic.h"
#include "gguf.h"
gd_model *gm_model_net(gm_model *m);
/* The model's keys and tensors into a writer (checkpoints add their own). */
int gm_model_to_gguf(const gm_model *m, gguf_writer *w, const char *source);
/* A model from an opened file (path for messages). */
gm_model *gm_model_from_gguf(const gguf_ctx *g, const char *path, char *err);
/* feat(v) of docs/MODEL.md "Token features" for every real token of v, as CSR:
 * *off [V+1], *idx [off[V]] (malloc'd; the caller frees both). */
int gm_model_token_features(const gm_vocab *v, const gm_layout *l, int32_t **off, int32_t **idx, char *err);
#endif
