/* cmd_train.c — `getmusic train`: train GETDiff on a prepared corpus (one
 * process, or one rank of an MPI job in the getmusic-mpi build). */
#include "cli.h"

#include "getmusic.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef GM_MPI
#include <mpi.h>
#endif

/* Ctrl-C or SIGTERM: the trainer sees the flag, writes a checkpoint and
 * returns, so an interrupted run can --resume. */
static volatile int stop_flag;
static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

void usage_train(FILE *f) {
    gm_train_params d = gm_train_default_params();
    fprintf(f,
            "usage: getmusic train CORPUS -o MODEL.gguf [options]\n"
            "  Trains GETDiff on a prepared corpus. Writes MODEL.gguf (EMA weights), MODEL.gguf.ckpt\n"
            "  (checkpoint: resume with --resume) and MODEL.gguf.log.jsonl (plot with plot-log).\n"
            "  Ctrl-C writes a checkpoint and stops.\n"
            "options:\n"
            "  -o, --output FILE    model file to write (required)\n"
            "  --resume             continue from MODEL.gguf.ckpt (same corpus, same --seed)\n"
            "  --init MODEL.gguf    fine-tune from a model file (its vocabulary must be the corpus')\n"
            "  --steps N            optimizer steps in all (%d)\n"
            "  --stop-after N       stop after N steps of this run, with a checkpoint (train in chunks)\n"
            "  --batch N            segments per micro-batch (%d)\n"
            "  --accum N            micro-batches per step, gradient accumulation (%d)\n"
            "  --lr X               peak learning rate (%g), --lr-min X final (%g)\n"
            "  --warmup N           warm-up steps (%d)\n"
            "  --weight-decay X     AdamW weight decay (%g)\n"
            "  --clip X             gradient-norm clip, 0 = off (%g)\n"
            "  --ema-decay X        EMA decay (%g), --ema-every N steps (%d)\n"
            "  --eval-every N       steps between validation losses (%d), --eval-segments N (%d)\n"
            "  --ckpt-every N       steps between checkpoints (%d)\n"
            "  --embd N --hidden N --layers N --heads N --ffn N --dropout X   sizes of a new model\n"
            "                       (default %d %d %d %d %d %g)\n"
            "  --token-features     a new model gets pitch-factorised token embeddings: each token's\n"
            "                       vector adds its pitches' (drum keys', chord root's, chord tones')\n"
            "                       vectors (docs/MODEL.md); --init and --resume keep the model's setting\n"
            "  --bar-positions      the model sees each column's position in its bar (docs/MODEL.md);\n"
            "                       with --init from a model without them they start at zero\n"
            "  --chord-given P      P(chords given) in the original task mix (0.25)\n"
            "  --accomp P           P(accompaniment task: lead and chords given, the rest targets) (0)\n"
            "  --drum-overlay P     P(a Groove drum part laid into a drum-less segment) (0)\n"
            "  --threads N          threads (default: all cores)\n"
            "  --seed N             (%llu)\n"
            "  --quiet              no progress line\n",
            d.steps, d.batch, d.accum, d.lr, d.lr_min, d.warmup, d.weight_decay, d.clip, d.ema_decay, d.ema_every,
            d.eval_every, d.eval_segments, d.ckpt_every, d.sizes.embd, d.sizes.hidden, d.sizes.layers, d.sizes.heads,
            d.sizes.ffn, d.sizes.dropout, (unsigned long long)d.seed);
}

typedef struct { int on; } train_ui;

static void train_progress(void *user, const gm_train_progress *p) {
    train_ui *ui = user;
    if (!ui->on) return;
    char val[32] = "-";
    if (!isnan(p->val_loss)) snprintf(val, sizeof val, "%.4f", p->val_loss);
    int eta = (int)p->eta_s;
    fprintf(stderr, "\rstep %d/%d  epoch %d  loss %.4f  val %s  lr %.2e  %.0f col/s  ETA %dh%02dm%02ds ", p->step, p->steps,
            p->epoch, p->loss, val, p->lr, p->cols_per_s, eta / 3600, eta / 60 % 60, eta % 60);
    if (p->evaluated || p->step == p->steps) fputc('\n', stderr);
    fflush(stderr);
}

static int train_rank(int argc, char **argv, int rank, int world) {
    gm_train_params p = gm_train_default_params();
    p.rank = rank;
    p.world = world;
    int quiet = 0;
    const cli_opt opts[] = {
        CLI_STR("--output", "-o", &p.out),
        CLI_STR("--init", NULL, &p.init),
        CLI_FLAG("--resume", NULL, &p.resume),
        CLI_SET("--token-features", NULL, &p.sizes.token_features, GM_TOKEN_FEATURES),
        CLI_SET("--bar-positions", NULL, &p.sizes.bar_positions, GM_BAR_POSITIONS),
        CLI_FLAG("--quiet", NULL, &quiet),
        CLI_INT("--steps", NULL, &p.steps, 1, 100000000),
        CLI_INT("--stop-after", NULL, &p.stop_after, 1, 100000000),
        CLI_INT("--batch", NULL, &p.batch, 1, 256),
        CLI_INT("--accum", NULL, &p.accum, 1, 4096),
        CLI_INT("--warmup", NULL, &p.warmup, 0, 100000000),
        CLI_INT("--ema-every", NULL, &p.ema_every, 1, 1000000),
        CLI_INT("--eval-every", NULL, &p.eval_every, 1, 100000000),
        CLI_INT("--eval-segments", NULL, &p.eval_segments, 1, 1000000),
        CLI_INT("--ckpt-every", NULL, &p.ckpt_every, 1, 100000000),
        CLI_INT("--threads", NULL, &p.threads, 1, 64),
        CLI_INT("--embd", NULL, &p.sizes.embd, 1, 4096),
        CLI_INT("--hidden", NULL, &p.sizes.hidden, 2, 16384),
        CLI_INT("--layers", NULL, &p.sizes.layers, 1, 128),
        CLI_INT("--heads", NULL, &p.sizes.heads, 1, 256),
        CLI_INT("--ffn", NULL, &p.sizes.ffn, 1, 65536),
        CLI_FLOAT("--lr", NULL, &p.lr, 1e-9, 1.0),
        CLI_FLOAT("--lr-min", NULL, &p.lr_min, 0.0, 1.0),
        CLI_FLOAT("--weight-decay", NULL, &p.weight_decay, 0.0, 10.0),
        CLI_FLOAT("--clip", NULL, &p.clip, 0.0, 1e9),
        CLI_FLOAT("--chord-given", NULL, &p.chord_given, 0.0, 1.0),
        CLI_FLOAT("--accomp", NULL, &p.accomp, 0.0, 1.0),
        CLI_FLOAT("--drum-overlay", NULL, &p.drum_overlay, 0.0, 1.0),
        CLI_FLOAT("--ema-decay", NULL, &p.ema_decay, 0.0, 0.999999),
        CLI_FLOAT("--dropout", NULL, &p.sizes.dropout, 0.0, 0.9),
        CLI_U64("--seed", NULL, &p.seed, 0, 2147483647),
        CLI_END,
    };
    cli_one_input corpus = {"train", NULL};
    int status = cli_parse_options("train", argc, argv, opts, cli_word_one_input, &corpus);
    p.corpus = corpus.in;
    if (status) return status;
    if (!p.corpus) return cli_fail(EXIT_USAGE, "train: give the corpus folder (from getmusic prepare)");
    if (!p.out) return cli_fail(EXIT_USAGE, "train: give the model file to write with -o MODEL.gguf");
    if (p.sizes.hidden % p.sizes.heads || (p.sizes.hidden / p.sizes.heads) % 2)
        return cli_fail(EXIT_USAGE, "--hidden (%d) must be a multiple of --heads (%d) with an even quotient", p.sizes.hidden, p.sizes.heads);
    if (p.resume && p.init) return cli_fail(EXIT_USAGE, "--resume and --init exclude each other");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    p.stop = &stop_flag;
    train_ui ui = {.on = !quiet && rank == 0 && isatty(2)};
    p.progress = train_progress;
    p.user_data = &ui;
    char err[GM_ERR_SIZE];
    if (gm_train(&p, err)) return cli_fail(EXIT_USAGE, "train: %s", err);
    if (rank == 0) {
        if (stop_flag) fprintf(stderr, "%sstopped: checkpoint written to %s.ckpt (continue with --resume)\n", ui.on ? "\n" : "", p.out);
        else printf("model      %s\ncheckpoint %s.ckpt (--resume continues from it)\nlog        %s.log.jsonl\n", p.out, p.out, p.out);
    }
    return 0;
}

int cmd_train(int argc, char **argv) {
#ifdef GM_MPI
    /* Data-parallel training: every rank runs this; rank 0 writes files. */
    int rank = 0, world = 1;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    int rc = train_rank(argc, argv, rank, world);
    MPI_Finalize();
    return rc;
#else
    return train_rank(argc, argv, 0, 1);
#endif
}
