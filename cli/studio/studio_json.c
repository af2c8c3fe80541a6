/* studio_json.c — the studio's small JSON reader (replies are written with
 * gm_buf_printf and gm_buf_json_str, util.h).
 * The API takes flat option objects ({"targets": ["piano"], "steps": 2});
 * a general JSON library would be more than that needs, and this one is
 * bounded: ST_MAX_JSON bytes in, J_MAX_KEYS keys, no nesting. */
#include "studio.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ======================================================================== */
/* JSON reader                                                               */
/* ======================================================================== */

typedef struct { const char *p, *end; char *err; } jcur;

static void skip_ws(jcur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

/* A string literal at c->p → malloc'd UTF-8 (\uXXXX of the BMP encoded;
 * surrogates and NUL refused: option values never need them). */
static char *parse_string(jcur *c) {
    if (c->p >= c->end || *c->p != '"') { gm_fail(c->err, "JSON: a string was expected"); return NULL; }
    c->p++;
    gm_buf b = {0};
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch < 0x20) { gm_fail(c->err, "JSON: control character in a string"); goto bad; }
        if (ch != '\\') { gm_buf_printf(&b, "%c", ch); continue; }
        if (c->p >= c->end) break;
        char e = *c->p++;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (simple && e) {
            static const char out[] = "\"\\/\b\f\n\r\t";
            gm_buf_printf(&b, "%c", out[simple - "\"\\/bfnrt"]);
        } else if (e == 'u' && c->end - c->p >= 4) {
            char hex[5] = {c->p[0], c->p[1], c->p[2], c->p[3], 0}, *q;
            unsigned long u = strtoul(hex, &q, 16);
            c->p += 4;
            if (*q || u == 0 || (u >= 0xD800 && u < 0xE000)) { gm_fail(c->err, "JSON: unsupported \\u escape"); goto bad; }
            if (u < 0x80) gm_buf_printf(&b, "%c", (int)u);
            else if (u < 0x800) gm_buf_printf(&b, "%c%c", (int)(0xC0 | u >> 6), (int)(0x80 | (u & 63)));
            else gm_buf_printf(&b, "%c%c%c", (int)(0xE0 | u >> 12), (int)(0x80 | (u >> 6 & 63)), (int)(0x80 | (u & 63)));
        } else { gm_fail(c->err, "JSON: bad escape in a string"); goto bad; }
    }
    if (c->p >= c->end) { gm_fail(c->err, "JSON: unterminated string"); goto bad; }
    c->p++;
    if (b.oom) { gm_fail(c->err, "out of memory"); goto bad; }
    if (!b.p) { gm_buf_printf(&b, "%s", ""); if (b.oom) goto bad; }
    return gm_buf_text(&b);
bad:
    gm_buf_free(&b);
    return NULL;
}

/* A scalar (string, number, true/false/null) into v. */
static int parse_scalar(jcur *c, jval *v) {
    skip_ws(c);
    if (c->p >= c->end) return gm_fail(c->err, "JSON: a value was expected");
    if (*c->p == '"') {
        v->type = JV_STR;
        return (v->str = parse_string(c)) ? 0 : -1;
    }
    static const struct { const char *w; int type; double num; } words[] = {
        {"true", JV_BOOL, 1}, {"false", JV_BOOL, 0}, {"null", JV_NULL, 0}};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        size_t n = strlen(words[i].w);
        if ((size_t)(c->end - c->p) >= n && !memcmp(c->p, words[i].w, n)) {
            c->p += n;
            v->type = words[i].type;
            v->num = words[i].num;
            return 0;
        }
    }
    char num[64];
    size_t n = 0;
    while (c->p + n < c->end && n < sizeof num - 1 && strchr("+-0123456789.eE", c->p[n]) && c->p[n]) n++;
    memcpy(num, c->p, n);
    num[n] = 0;
    char *q;
    errno = 0;
    double d = n ? strtod(num, &q) : 0;
    if (!n || *q || errno || !isfinite(d)) return gm_fail(c->err, "JSON: a value was expected");
    c->p += n;
    v->type = JV_NUM;
    v->num = d;
    return 0;
}

static int parse_array(jcur *c, jval *v) {
    c->p++; /* '[' */
    v->type = JV_ARR;
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') { c->p++; return 0; }
    for (;;) {
        jval item = {0};
        if (parse_scalar(c, &item)) return -1;
        if (item.type != JV_STR && item.type != JV_NUM) { free(item.str); return gm_fail(c->err, "JSON: arrays hold strings or numbers"); }
        if (v->n_items >= 256) { free(item.str); return gm_fail(c->err, "JSON: array too long"); }
        char **ni = realloc(v->items, (size_t)(v->n_items + 1) * sizeof *ni);
        if (!ni) { free(item.str); return gm_fail(c->err, "out of memory"); }
        v->items = ni;
        if (item.type == JV_NUM) {
            char t[32];
            snprintf(t, sizeof t, "%.17g", item.num);
            item.str = strdup(t);
            if (!item.str) return gm_fail(c->err, "out of memory");
        }
        v->items[v->n_items++] = item.str;
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') { c->p++; continue; }
        if (c->p < c->end && *c->p == ']') { c->p++; return 0; }
        return gm_fail(c->err, "JSON: ',' or ']' expected in an array");
    }
}

int jobj_parse(jobj *o, const char *text, size_t len, char *err) {
    memset(o, 0, sizeof *o);
    jcur c = {text, text + len, err};
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{') return gm_fail(err, "JSON: the body must be an object {...}");
    c.p++;
    skip_ws(&c);
    if (c.p < c.end && *c.p == '}') { c.p++; goto tail; }
    for (;;) {
        skip_ws(&c);
        if (o->n >= J_MAX_KEYS) { jobj_free(o); return gm_fail(err, "JSON: too many keys"); }
        char *key = parse_string(&c);
        if (!key) { jobj_free(o); return -1; }
        jval *v = &o->v[o->n++];
        if (strlen(key) >= sizeof v->key) { free(key); jobj_free(o); return gm_fail(err, "JSON: key too long"); }
        strcpy(v->key, key);
        free(key);
        skip_ws(&c);
        if (c.p >= c.end || *c.p != ':') { jobj_free(o); return gm_fail(err, "JSON: ':' expected after a key"); }
        c.p++;
        skip_ws(&c);
        int bad = c.p < c.end && *c.p == '{' ? gm_fail(err, "JSON: option '%s': nested objects are not taken", v->key)
                  : c.p < c.end && *c.p == '[' ? parse_array(&c, v) : parse_scalar(&c, v);
        if (bad) { jobj_free(o); return -1; }
        skip_ws(&c);
        if (c.p < c.end && *c.p == ',') { c.p++; continue; }
        if (c.p < c.end && *c.p == '}') { c.p++; break; }
        jobj_free(o);
        return gm_fail(err, "JSON: ',' or '}' expected");
    }
tail:
    skip_ws(&c);
    if (c.p != c.end) { jobj_free(o); return gm_fail(err, "JSON: text after the object"); }
    return 0;
}

const jval *jobj_get(const jobj *o, const char *key) {
    for (int i = o->n - 1; i >= 0; i--) /* the last one wins, as in most readers */
        if (!strcmp(o->v[i].key, key)) return &o->v[i];
    return NULL;
}

void jobj_free(jobj *o) {
    for (int i = 0; i < o->n; i++) {
        free(o->v[i].str);
        for (int k = 0; k < o->v[i].n_items; k++) free(o->v[i].items[k]);
        free(o->v[i].items);
    }
    memset(o, 0, sizeof *o);
}
