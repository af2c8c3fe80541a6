/* studio_server.c — the studio's HTTP side, on libmicrohttpd (Debian's
 * libmicrohttpd-dev): one thread per connection inside the library, each
 * request checked before anything else runs:
 *   - the Host header must name the bound host, localhost or an IP literal,
 *     with the bound port: a web page elsewhere cannot reach us through a
 *     DNS name it re-points at 127.0.0.1 (DNS rebinding);
 *   - exactly one Host header (a second one, valid or not, is refused);
 *   - a state-changing request (any method but GET, HEAD, OPTIONS) from
 *     another page (an Origin that is not ours) is refused, so a site
 *     cannot post songs or jobs here, nor cancel them;
 *   - bodies are capped (ST_MAX_UPLOAD for a MIDI upload, ST_MAX_JSON for
 *     options): an announced length over the cap is refused before it is
 *     read, a longer chunked body is read and dropped;
 *   - headers are capped by the connection memory limit (libmicrohttpd
 *     answers 431 itself), connections by ST_MAX_CONNECTIONS, idle clients
 *     time out; and a deadline: a request's headers must all arrive within
 *     ST_HEADER_SECONDS (--header-timeout) of the connection's start or of
 *     its previous reply, its body within ST_BODY_SECONDS after them. A
 *     watchdog thread shuts the socket of a connection past its deadline
 *     (libmicrohttpd's own timeout is for idleness, which a client sending
 *     a byte every few seconds never reaches).
 * Audio replies answer Range requests (206 with Content-Range, 416 when
 * the range is past the end). Everything else is the page's files
 * (compiled in), /favicon.ico (204) or the API. */
#include "studio.h"

#ifndef GM_NO_MHD /* built without libmicrohttpd: cmd_studio.c says so instead */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "util.h"

/* A connection watched for its deadline. */
typedef struct {
    struct MHD_Connection *c; /* NULL = free */
    int fd;
    double deadline;          /* monotonic seconds; 0 = none (a reply being sent) */
    int shut;                 /* shut down once already */
} watched;

struct studio_server {
    struct MHD_Daemon *d;
    studio *st;
    char host[256];    /* as given to --host */
    int port;          /* bound (the real one when 0 was asked) */
    size_t inflight;   /* bytes held by request bodies being received (atomic) */
    int header_s;      /* seconds for a request's headers */
    pthread_mutex_t wmu;
    pthread_cond_t wstop;
    pthread_t watchdog;
    int watchdog_started, stopping;
    watched w[ST_MAX_CONNECTIONS + 8];
};

/* Per-request state, kept by libmicrohttpd between calls (*con_cls). */
typedef struct {
    uint8_t *body;     /* [n] bytes received so far (cap bytes allocated) */
    size_t n, cap;
    size_t limit;      /* most bytes this request may send */
    int too_big;       /* the body passed the limit: answer 413 at the end */
    int busy;          /* bodies of all requests together passed ST_MAX_INFLIGHT: 503 */
} request;

/* ======================================================================== */
/* Deadlines                                                                 */
/* ======================================================================== */

static double mono_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Sets connection c's deadline (seconds from now; 0 = none). */
static void set_deadline(studio_server *sv, struct MHD_Connection *c, double secs) {
    pthread_mutex_lock(&sv->wmu);
    for (size_t i = 0; i < sizeof sv->w / sizeof *sv->w; i++)
        if (sv->w[i].c == c) sv->w[i].deadline = secs > 0 ? mono_s() + secs : 0;
    pthread_mutex_unlock(&sv->wmu);
}

/* libmicrohttpd: a connection opened or closed (closed is told before its
 * socket is closed, so the watchdog never touches a socket number reused). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context, enum MHD_ConnectionNotificationCode code) {
    studio_server *sv = cls;
    (void)socket_context;
    pthread_mutex_lock(&sv->wmu);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        for (size_t i = 0; ci && i < sizeof sv->w / sizeof *sv->w; i++)
            if (!sv->w[i].c) {
                sv->w[i] = (watched){c, ci->connect_fd, mono_s() + sv->header_s, 0};
                break;
            }
    } else {
        for (size_t i = 0; i < sizeof sv->w / sizeof *sv->w; i++)
            if (sv->w[i].c == c) sv->w[i].c = NULL;
    }
    pthread_mutex_unlock(&sv->wmu);
}

/* Twice a second: connections past their deadline are shut (their thread
 * then sees the end of the stream and closes them). */
static void *watchdog_main(void *arg) {
    studio_server *sv = arg;
    pthread_mutex_lock(&sv->wmu);
    while (!sv->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 500000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&sv->wstop, &sv->wmu, &ts);
        double now = mono_s();
        for (size_t i = 0; i < sizeof sv->w / sizeof *sv->w; i++) {
            watched *x = &sv->w[i];
            if (x->c && !x->shut && x->deadline > 0 && now > x->deadline) {
                shutdown(x->fd, SHUT_RDWR);
                x->shut = 1;
            }
        }
    }
    pthread_mutex_unlock(&sv->wmu);
    return NULL;
}

/* ======================================================================== */
/* Checks                                                                    */
/* ======================================================================== */

int studio_host_ok(const char *h, const char *bound, int port) {
    if (!h || !*h || strlen(h) > 300) return 0;
    char name[301];
    const char *colon;
    if (h[0] == '[') { /* [v6]:port */
        const char *e = strchr(h, ']');
        if (!e) return 0;
        snprintf(name, sizeof name, "%.*s", (int)(e - h - 1), h + 1);
        colon = e[1] == ':' ? e + 1 : e[1] ? NULL : e + 1;
        if (!colon) return 0;
    } else {
        colon = strchr(h, ':');
        snprintf(name, sizeof name, "%.*s", (int)(colon ? colon - h : (long)strlen(h)), h);
    }
    int hport = 80;
    if (colon && *colon == ':') {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end || v < 1 || v > 65535) return 0;
        hport = (int)v;
    }
    if (hport != port) return 0;
    unsigned char addr[16];
    /* IP literals cannot be re-pointed by DNS; localhost resolves locally. */
    if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1) return 1;
    return !strcasecmp(name, "localhost") || !strcasecmp(name, bound);
}

/* How many Host headers the request has. */
static enum MHD_Result count_host(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind, (void)value;
    if (key && !strcasecmp(key, MHD_HTTP_HEADER_HOST)) (*(int *)cls)++;
    return MHD_YES;
}

/* A request from a page of another origin? (Browsers send Origin on every
 * request but a plain GET or HEAD.) */
static int foreign_origin(struct MHD_Connection *c) {
    const char *o = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!o) return 0;
    return !h || strncmp(o, "http://", 7) || strcmp(o + 7, h);
}

/* ======================================================================== */
/* Replies                                                                   */
/* ======================================================================== */

static void free_blob(void *cls) { st_blob_release(cls); }

/* Range: bytes=A-B | A- | -N against a body of `size` bytes. 1 with the
 * first and last byte (inclusive), 0 to send it all (no Range, another
 * unit, several ranges, a malformed one: RFC 9110 lets us ignore those),
 * -1 when unsatisfiable (416). */
static int parse_range(const char *h, size_t size, size_t *a, size_t *b) {
    if (!h || strncmp(h, "bytes=", 6)) return 0;
    const char *p = h + 6;
    while (*p == ' ') p++;
    if (strchr(p, ',')) return 0;
    char *end;
    if (*p == '-') { /* the last N bytes */
        if (p[1] < '0' || p[1] > '9') return 0;
        unsigned long long n = strtoull(p + 1, &end, 10);
        while (*end == ' ') end++;
        if (*end) return 0;
        if (n == 0 || size == 0) return -1;
        *a = n >= size ? 0 : size - (size_t)n;
        *b = size - 1;
        return 1;
    }
    if (*p < '0' || *p > '9') return 0;
    unsigned long long first = strtoull(p, &end, 10), last;
    if (*end != '-') return 0;
    p = end + 1;
    if (*p >= '0' && *p <= '9') {
        last = strtoull(p, &end, 10);
        if (last < first) return 0;
    } else {
        last = ~0ULL;
        end = (char *)p;
    }
    while (*end == ' ') end++;
    if (*end) return 0;
    if (first >= size) return -1;
    *a = (size_t)first;
    *b = last >= size ? size - 1 : (size_t)last;
    return 1;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, st_reply *r) {
    struct MHD_Response *resp;
    char content_range[96] = "";
    if (r->blob && r->ranges) {
        size_t a = 0, b = 0;
        int k = parse_range(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE), r->blob->size, &a, &b);
        if (k < 0) {
            size_t size = r->blob->size;
            st_blob_release(r->blob);
            r->blob = NULL;
            gm_buf_free(&r->text);
            r->status = MHD_HTTP_RANGE_NOT_SATISFIABLE;
            r->type = "application/json";
            gm_buf_printf(&r->text, "{\"error\": \"the range is past the end (%zu bytes)\"}\n", size);
            snprintf(content_range, sizeof content_range, "bytes */%zu", size);
        } else if (k > 0) {
            snprintf(content_range, sizeof content_range, "bytes %zu-%zu/%zu", a, b, r->blob->size);
            r->status = MHD_HTTP_PARTIAL_CONTENT;
            /* The part is sent straight from the shared bytes, which the
             * reply keeps alive until libmicrohttpd is done with them. */
            resp = MHD_create_response_from_buffer_with_free_callback_cls(b - a + 1, r->blob->data + a, free_blob, r->blob);
            if (!resp) st_blob_release(r->blob);
            goto headers;
        }
    }
    if (r->blob) {
        resp = MHD_create_response_from_buffer_with_free_callback_cls(r->blob->size, r->blob->data, free_blob, r->blob);
        if (!resp) st_blob_release(r->blob);
    } else {
        /* The text's buffer passes to libmicrohttpd, which frees it. */
        size_t n = r->text.n;
        char *s = gm_buf_text(&r->text) ? gm_buf_text(&r->text) : strdup("");
        memset(&r->text, 0, sizeof r->text);
        resp = s ? MHD_create_response_from_buffer(n, s, MHD_RESPMEM_MUST_FREE) : NULL;
        if (!resp) free(s);
    }
headers:
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->type ? r->type : "text/plain; charset=utf-8");
    if (r->ranges) MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    if (content_range[0]) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, content_range);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    if (r->filename[0]) {
        char cd[160];
        snprintf(cd, sizeof cd, "attachment; filename=\"%s\"", r->filename);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, cd);
    }
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *msg) {
    st_reply r = {0};
    r.status = status;
    r.type = "application/json";
    gm_buf_printf(&r.text, "{\"error\": ");
    gm_buf_json_str(&r.text, msg);
    gm_buf_printf(&r.text, "}\n");
    return send_reply(c, &r);
}

static const char *mime_of(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return "application/octet-stream";
    if (!strcmp(dot, ".html")) return "text/html; charset=utf-8";
    if (!strcmp(dot, ".js")) return "text/javascript; charset=utf-8";
    if (!strcmp(dot, ".css")) return "text/css; charset=utf-8";
    if (!strcmp(dot, ".svg")) return "image/svg+xml";
    if (!strcmp(dot, ".png")) return "image/png";
    if (!strcmp(dot, ".mid")) return "audio/midi"; /* the bundled example */
    return "application/octet-stream";
}

/* The page's files: exact names from the table compiled in, nothing else. */
static enum MHD_Result send_static(struct MHD_Connection *c, const char *url) {
    if (!strcmp(url, "/favicon.ico")) { /* no icon: said without an error in the console */
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "max-age=86400");
        enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, resp);
        MHD_destroy_response(resp);
        return ok;
    }
    const char *name = !strcmp(url, "/") ? "index.html" : url + 1;
    for (size_t i = 0; i < studio_web_n_files; i++) {
        const studio_web_file *f = &studio_web_files[i];
        if (strcmp(f->name, name)) continue;
        struct MHD_Response *resp = MHD_create_response_from_buffer(f->size, (void *)f->data, MHD_RESPMEM_PERSISTENT);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, mime_of(name));
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
                                "style-src 'self'; script-src 'self'; frame-ancestors 'none'");
        enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ok;
    }
    return send_error(c, MHD_HTTP_NOT_FOUND, "no such page");
}

/* ======================================================================== */
/* The request handler                                                       */
/* ======================================================================== */

/* First call of a request: checks, then the body limit. Returns MHD_YES to
 * go on reading (with *con_cls set), or the result of queueing a refusal. */
static enum MHD_Result begin(studio_server *sv, struct MHD_Connection *c, const char *url, const char *method,
                             void **con_cls) {
    /* Headers are in: the body gets its own deadline. */
    set_deadline(sv, c, ST_BODY_SECONDS);
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    int n_host = 0;
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_host, &n_host);
    if (n_host > 1) return send_error(c, MHD_HTTP_BAD_REQUEST, "more than one Host header");
    if (!studio_host_ok(host, sv->host, sv->port))
        return send_error(c, MHD_HTTP_FORBIDDEN, "the Host header must name this server (e.g. 127.0.0.1:PORT)");
    int post = !strcmp(method, "POST");
    int changes = strcmp(method, "GET") && strcmp(method, "HEAD") && strcmp(method, "OPTIONS");
    if (changes && foreign_origin(c)) return send_error(c, MHD_HTTP_FORBIDDEN, "requests from other sites are refused");
    request *rq = calloc(1, sizeof *rq);
    if (!rq) return MHD_NO;
    rq->limit = post && !strcmp(url, "/api/songs") ? ST_MAX_UPLOAD : post ? ST_MAX_JSON : 0;
    *con_cls = rq;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > rq->limit && post) {
        char msg[96];
        snprintf(msg, sizeof msg, "the body is over the limit of %zu bytes", rq->limit);
        return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    return MHD_YES;
}

/* A piece of the body: kept up to the limit, dropped after. The bytes all
 * bodies hold together are bounded too (ST_MAX_INFLIGHT), so that many
 * slow uploads at once cannot add up past the memory bound. */
static void take_body(studio_server *sv, request *rq, const char *data, size_t n) {
    if (rq->too_big || rq->busy || rq->n + n > rq->limit) {
        rq->too_big = rq->too_big || (rq->limit > 0 && !rq->busy);
        return;
    }
    if (rq->n + n > rq->cap) {
        size_t cap = rq->cap ? rq->cap : 64 << 10;
        while (cap < rq->n + n) cap *= 2;
        if (cap > rq->limit) cap = rq->limit;
        size_t held = __atomic_add_fetch(&sv->inflight, cap - rq->cap, __ATOMIC_ACQ_REL);
        uint8_t *nb = held <= ST_MAX_INFLIGHT ? realloc(rq->body, cap) : NULL;
        if (!nb) {
            __atomic_sub_fetch(&sv->inflight, cap - rq->cap, __ATOMIC_ACQ_REL);
            rq->busy = 1;
            return;
        }
        rq->body = nb;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->n, data, n);
    rq->n += n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    studio_server *sv = cls;
    (void)version;
    if (!*con_cls) return begin(sv, c, url, method, con_cls);
    request *rq = *con_cls;
    if (*upload_size) {
        take_body(sv, rq, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    /* The whole request is in: no deadline while it is answered (a long
     * download is not a slow client; idleness still times out). */
    set_deadline(sv, c, 0);
    if (rq->busy) return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "too many uploads at once; try again");
    if (rq->too_big) {
        char msg[96];
        snprintf(msg, sizeof msg, "the body is over the limit of %zu bytes", rq->limit);
        return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    if (strncmp(url, "/api/", 5)) {
        if (strcmp(method, "GET") && strcmp(method, "HEAD")) return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "pages are read with GET");
        return send_static(c, url);
    }
    st_query q = {MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "mute"),
                  MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name"),
                  MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "download")};
    st_reply r;
    studio_api(sv->st, method, url, &q, rq->body, rq->n, &r);
    return send_reply(c, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    studio_server *sv = cls;
    (void)toe;
    set_deadline(sv, c, sv->header_s); /* a next request on this connection: its headers in time */
    request *rq = *con_cls;
    if (rq) {
        __atomic_sub_fetch(&sv->inflight, rq->cap, __ATOMIC_ACQ_REL);
        free(rq->body);
        free(rq);
    }
    *con_cls = NULL;
}

/* ======================================================================== */
/* Start and stop                                                            */
/* ======================================================================== */

studio_server *studio_server_start(studio *st, const char *host, int port, int header_s, char *err) {
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, NULL, &hints, &ai);
    if (rc || !ai) { gm_fail(err, "--host %s: %s", host, rc ? gai_strerror(rc) : "no address"); return NULL; }
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
    int v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (v6) ((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)port);
    else ((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)port);
    studio_server *sv = calloc(1, sizeof *sv);
    if (!sv) { gm_fail(err, "out of memory"); return NULL; }
    sv->st = st;
    sv->header_s = header_s > 0 ? header_s : ST_HEADER_SECONDS;
    pthread_mutex_init(&sv->wmu, NULL);
    pthread_cond_init(&sv->wstop, NULL);
    gm_strlcpy(sv->host, host, sizeof sv->host);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
                     (v6 ? MHD_USE_IPv6 : 0);
    sv->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, sv,
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)ST_MAX_CONNECTIONS,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 << 10),
                             MHD_OPTION_THREAD_STACK_SIZE, (size_t)(2 << 20),
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, sv,
                             MHD_OPTION_NOTIFY_CONNECTION, on_connection, sv,
                             MHD_OPTION_END);
    if (!sv->d) {
        gm_fail(err, "cannot listen on %s port %d (in use, or not an address of this machine?)", host, port);
        pthread_mutex_destroy(&sv->wmu);
        pthread_cond_destroy(&sv->wstop);
        free(sv);
        return NULL;
    }
    sv->watchdog_started = !pthread_create(&sv->watchdog, NULL, watchdog_main, sv);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(sv->d, MHD_DAEMON_INFO_BIND_PORT);
    sv->port = info && info->port ? info->port : port;
    return sv;
}

int studio_server_port(const studio_server *s) { return s->port; }

void studio_server_stop(studio_server *s) {
    if (!s) return;
    MHD_stop_daemon(s->d);
    pthread_mutex_lock(&s->wmu);
    s->stopping = 1;
    pthread_cond_signal(&s->wstop);
    pthread_mutex_unlock(&s->wmu);
    if (s->watchdog_started) pthread_join(s->watchdog, NULL);
    pthread_mutex_destroy(&s->wmu);
    pthread_cond_destroy(&s->wstop);
    free(s);
}
#endif /* GM_NO_MHD */
