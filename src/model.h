/* model.h — internal access to a gm_model's network. */
#ifndef GM_MODEL_H
#define GM_MODEL_H
#include "getdiff.h"
#include "getmusic.h"
gd_model *gm_model_net(gm_model *m);
#endif
