/* cmd_studio.c — `getmusic studio`: the browser studio (issue 11). Loads the
 * model, starts the HTTP server (cli/studio/studio_server.c) and the generation
 * worker (cli/studio/studio_store.c), prints the URL and serves until Ctrl-C. */
#include "cli.h"

#include "getmusic.h"
#include "studio/studio.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void usage_studio(FILE *f) {
    fprintf(f,
            "usage: getmusic studio [--port 8080] [--host 127.0.0.1] [--model M.gguf] [--data DIR]\n\n"
            "Starts the studio, a web page on this machine to arrange in the browser: open a\n"
            "MIDI file or start from chords, pick tracks and bars, generate, listen, download.\n"
            "Prints its URL and serves until Ctrl-C. Nothing leaves this machine. Songs and\n"
            "their versions are kept in the data folder and come back after a restart.\n\n"
            "  --port N        TCP port (default 8080; 0 = any free port, printed)\n"
            "  --host H        address to listen on (default 127.0.0.1, this machine only;\n"
            "                  anything else lets other machines in: a warning is printed)\n"
            "  --model M.gguf  default: the shipped model (models/default.gguf)\n"
            "  --data DIR      where songs are kept (default $XDG_DATA_HOME/getmusic/studio,\n"
            "                  else ~/.local/share/getmusic/studio); --data none keeps nothing\n"
            "  --header-timeout S  seconds a request's headers may take (default %d)\n"
            "  --quiet         print only the URL\n", ST_HEADER_SECONDS);
}

#ifndef GM_NO_MHD
/* Is this host only reachable from this machine? */
static int is_loopback(const char *h) {
    return !strcmp(h, "127.0.0.1") || !strcmp(h, "localhost") || !strcmp(h, "::1") || !strncmp(h, "127.", 4);
}
#endif

int cmd_studio(int argc, char **argv) {
    const char *host = "127.0.0.1", *model_path = NULL, *data = NULL;
    long port = 8080, header_s = ST_HEADER_SECONDS;
    int quiet = 0;
    const cli_opt opts[] = {
        CLI_LONG("--port", NULL, &port, 0, 65535),
        CLI_STR("--host", NULL, &host),
        CLI_STR("--model", NULL, &model_path),
        CLI_STR("--data", NULL, &data),
        CLI_LONG("--header-timeout", NULL, &header_s, 1, 3600),
        CLI_FLAG("--quiet", "-q", &quiet),
        CLI_END,
    };
    int parsed = cli_parse_options("studio", argc, argv, opts, NULL, NULL);
    if (parsed) return parsed;
#ifdef GM_NO_MHD
    (void)host, (void)model_path, (void)quiet, (void)data, (void)header_s;
    return cli_fail(EXIT_USAGE, "studio: this build has no HTTP server (install libmicrohttpd-dev and rebuild)");
#else
    if (!model_path && !(model_path = cli_default_model()))
        return cli_fail(EXIT_USAGE, "no model found: pass --model M.gguf or set GETMUSIC_MODEL");
    char err[GM_ERR_SIZE], data_dir[512] = "";
    if (!data) {
        const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
        if (xdg && xdg[0] == '/') snprintf(data_dir, sizeof data_dir, "%s/getmusic/studio", xdg);
        else if (home && home[0] == '/') snprintf(data_dir, sizeof data_dir, "%s/.local/share/getmusic/studio", home);
        else return cli_fail(EXIT_USAGE, "studio: no HOME or XDG_DATA_HOME: give --data DIR (or --data none)");
    } else if (strcmp(data, "none")) {
        snprintf(data_dir, sizeof data_dir, "%s", data);
    }
    st_disk *disk = NULL;
    if (data_dir[0] && !(disk = st_disk_open(data_dir, err))) return cli_fail(EXIT_USAGE, "studio: %s", err);
    gm_model *m = gm_model_load(model_path, err);
    if (!m) { st_disk_close(disk); return cli_fail(EXIT_USAGE, "%s", err); }
    /* Renders go to fixed names in a folder of our own, never to a name a
     * request could choose. */
    const char *base = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";
    char tmpdir[512];
    snprintf(tmpdir, sizeof tmpdir, "%s/getmusic-studio-XXXXXX", base);
    if (!mkdtemp(tmpdir)) {
        gm_model_free(m);
        st_disk_close(disk);
        return cli_fail(EXIT_INTERNAL, "cannot make a folder in %s", base);
    }
    /* Ctrl-C and SIGTERM are taken by sigwait below: block them before any
     * thread starts, so that every thread inherits the mask. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-reply is not our death */
    int status = EXIT_INTERNAL;
    studio *st = studio_new(m, tmpdir, disk, err); /* owns m and disk from here */
    studio_server *sv = st ? studio_server_start(st, host, (int)port, (int)header_s, err) : NULL;
    if (!sv) {
        status = cli_fail(EXIT_USAGE, "studio: %s", err);
        goto out;
    }
    if (!is_loopback(host))
        fprintf(stderr, "%s: warning: listening on %s: other machines can reach the studio (no password)\n", cli_prog, host);
    int p = studio_server_port(sv);
    if (strchr(host, ':')) printf("http://[%s]:%d/\n", host, p);
    else printf("http://%s:%d/\n", host, p);
    if (!quiet) {
        if (data_dir[0]) fprintf(stderr, "%s: studio: songs kept in %s (%d there now)\n", cli_prog, data_dir, studio_n_songs(st));
        else fprintf(stderr, "%s: studio: --data none: songs are not kept after it stops\n", cli_prog);
        fprintf(stderr, "%s: studio serving (model %s); Ctrl-C to stop\n", cli_prog, model_path);
    }
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    if (!quiet) fprintf(stderr, "%s: studio stopped\n", cli_prog);
    status = 0;
out:
    studio_server_stop(sv);
    studio_free(st);
    rmdir(tmpdir);
    return status;
#endif
}
