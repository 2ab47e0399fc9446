/* cmd/learn.c — `seal learn`: a user's documents into a model (trainer/learn.h). */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/cmd.h"
#include "cmd/run_common.h"
#include "evaluator/documents.h"
#include "evaluator/knowledge_domain.h"
#include "evaluator/prompts.h"
#include "trainer/checkpoint.h"
#include "trainer/export.h"
#include "trainer/learn.h"

static const char usage[] =
    "usage: seal learn --model PATH --docs FILE... --output DIR [OPTIONS]\n"
    "\n"
    "Takes documents into the model for good: for every document the policy\n"
    "writes a self-edit (the knowledge task's self-edit prompt), LoRA is trained\n"
    "on its lines and the document with the job's inner loop, and the result is\n"
    "written to DIR as a PEFT adapter for the model (adapter_config.json and\n"
    "adapter_model.safetensors: use it with `seal generate --adapter DIR`,\n"
    "`seal score --adapter DIR` or PEFT), or with --merge as a merged Hugging Face\n"
    "checkpoint. Documents: plain text or Markdown (a file is one document,\n"
    "titled by its first \"# \" heading or its name) and SQuAD JSON (each passage\n"
    "one document); one longer than the context window allows is split on\n"
    "paragraph boundaries. A document whose self-edit has nothing to train on\n"
    "(after the job's resamples) is reported and skipped.\n"
    "\n"
    "  --model PATH     the model to teach: Hugging Face directory or .gguf (required)\n"
    "  --docs FILE...   the documents, in order (required; may be given again)\n"
    "  --output DIR     where the result and the learn state go (required)\n"
    "  --policy RUN     who writes the self-edits: a run directory or its\n"
    "                   checkpoint.h5 (the base with the run's policy rounds merged;\n"
    "                   the run's teacher when it had one);\n"
    "                   default: the model itself, before it learns anything\n"
    "  --each           continual (default): document after document, a fresh LoRA\n"
    "                   on the current weights, merged into them before the next\n"
    "  --all            one LoRA over every document's training examples\n"
    "  --merge          write a merged Hugging Face checkpoint (float32) instead of\n"
    "                   an adapter\n"
    "  --resume         continue the learn in DIR (DIR/learn-state.json, written after\n"
    "                   every document) where it stopped; it ends with the same bits\n"
    "                   as an uninterrupted learn\n"
    "  --job FILE       a job file (task: knowledge) for the self-edit (selfedit.*),\n"
    "                   the inner loop (inner_loop.*) and the seed; default: the\n"
    "                   paper's settings (docs/job-config.md)\n"
    "  --device NAME    cpu, cpu:bf16, cpu:q8, cpu:q4, cuda[:N] or auto (default: the job's, else auto)\n"
    "  --stop-after N   for tests: stop with status 3 after N documents (self-edits\n"
    "                   and trainings each count), as SIGTERM would\n"
    "  --help           this text\n"
    "\n"
    "SIGTERM or SIGUSR1 stop it after the current document with status 3;\n"
    "--resume continues. Exit status: 0 done, 1 error, 2 bad command line,\n"
    "3 stopped.\n";

typedef struct {
  const char *model, *policy, *output, *job, *device;
  const char **docs;
  int n_docs;
  int each, all, merge, resume;
  int stop_after; /* 0: never */
  seal_learn_mode mode;
} learn_opts;

/* --docs value: one more document (field is o->docs; the count beside it in
 * the same struct grows with it). */
static int add_doc(const char *value, void *field) {
  learn_opts *o = (learn_opts *)((char *)field - offsetof(learn_opts, docs));
  o->docs = seal_realloc(o->docs, (size_t)(o->n_docs + 1) * sizeof *o->docs);
  o->docs[o->n_docs++] = value;
  return 0;
}

/* "--docs a b c" as "--docs a --docs b --docs c", the form the option table
 * reads: every argument after --docs up to the next option is a document.
 * Returns a new argv (the strings are argv's) of *argc entries. */
static char **spread_docs(int *argc, char **argv) {
  char **out = seal_calloc((size_t)(*argc) * 2 + 1, sizeof(char *));
  int n = 0;
  for (int i = 0; i < *argc; i++) {
    out[n++] = argv[i];
    if (strcmp(argv[i], "--docs") || i + 1 >= *argc) continue;
    out[n++] = argv[++i];
    while (i + 1 < *argc && argv[i + 1][0] != '-') out[n++] = "--docs", out[n++] = argv[++i];
  }
  *argc = n;
  return out;
}

static int parse(int argc, char **argv, learn_opts *o) {
  static const cmd_option table[] = {CMD_OPT_TEXT(learn_opts, model, "model"),
                                     CMD_OPT_TEXT(learn_opts, policy, "policy"),
                                     CMD_OPT_CUSTOM(learn_opts, docs, "docs", add_doc),
                                     CMD_OPT_TEXT(learn_opts, output, "output"),
                                     CMD_OPT_FLAG(learn_opts, each, "each"),
                                     CMD_OPT_FLAG(learn_opts, all, "all"),
                                     CMD_OPT_FLAG(learn_opts, merge, "merge"),
                                     CMD_OPT_FLAG(learn_opts, resume, "resume"),
                                     CMD_OPT_TEXT(learn_opts, job, "job"),
                                     CMD_OPT_DEVICE(learn_opts, device, 1),
                                     CMD_OPT_INT(learn_opts, stop_after, "stop-after", 1, 1 << 30),
                                     CMD_OPT_END};
  *o = (learn_opts){0};
  int rc = cmd_parse_options(argc, argv, table, o, usage, NULL);
  if (rc) return rc;
  const char *problem = NULL;
  if (!o->model || !o->n_docs || !o->output)
    problem = "--model, --docs and --output are required";
  else if (o->each && o->all)
    problem = "give one of --each and --all";
  if (problem) {
    fprintf(stderr, "seal learn: %s\n\n%s", problem, usage);
    return -1;
  }
  o->mode = o->all ? SEAL_LEARN_ALL : SEAL_LEARN_EACH;
  return 0;
}

/* ---- the job ---------------------------------------------------------------- */

/* path as a single-quoted YAML scalar that the job reader gives back
 * unchanged: ' doubled for YAML, $ doubled against ${ENV} expansion. */
static char *yaml_path(const char *path) {
  seal_buf b = {0};
  seal_buf_puts(&b, "'");
  for (const char *p = path; *p; p++)
    seal_buf_puts(&b, *p == '\'' ? "''" : *p == '$' ? "$$" : (char[]){*p, 0});
  seal_buf_puts(&b, "'");
  return b.data;
}

/* The job file, or the paper's settings. learn reads no data.* file and
 * writes to --output: the default job names them only because a job requires
 * the keys. */
static void load_job(const learn_opts *o, seal_job *job) {
  seal_error e;
  if (o->job) {
    if (seal_job_load(o->job, job, &e)) SEAL_DIE_ERR(&e);
  } else {
    char *model = yaml_path(o->model), *out = yaml_path(o->output), *doc = yaml_path(o->docs[0]);
    char *yaml =
        seal_asprintf("task: knowledge\nmodel: %s\noutput: %s\ndata: {train: %s, eval: %s}\n",
                      model, out, doc, doc);
    free(model), free(out), free(doc);
    int rc = seal_job_parse(yaml, "seal learn's default job", job, &e);
    free(yaml);
    if (rc) SEAL_DIE_ERR(&e);
  }
  if (job->task != &seal_knowledge_domain)
    SEAL_DIE("%s: seal learn takes documents for the knowledge task; this job's task is %s", o->job,
             job->task->name);
}

/* ---- documents ---------------------------------------------------------------- */

static int count_tokens(void *user, const char *text) {
  int32_t *ids;
  int n = seal_engine_encode((const seal_engine *)user, text, &ids);
  free(ids);
  return n;
}

/* What a document may take of the context window: the self-edit prompt's own
 * words and the self-edit itself come with it. */
static int document_budget(const seal_engine *eng, const seal_job *job) {
  const seal_knowledge_settings *k = job->task_settings;
  char *frame = seal_prompt_selfedit(k->selfedit.prompt, "", "");
  int budget =
      seal_engine_context(eng) - job->selfedit.max_tokens - count_tokens((void *)eng, frame);
  free(frame);
  budget -= 32; /* the title, and tokens merging across the seams */
  if (budget < 16)
    SEAL_DIE(
        "%s: a context window of %d tokens leaves no room for a document beside "
        "selfedit.max_tokens %d (give a --job with a smaller selfedit.max_tokens)",
        eng->path, seal_engine_context(eng), job->selfedit.max_tokens);
  return budget;
}

typedef struct {
  seal_documents docs;
  char **names; /* [docs.n] "file", or "file#k" for the k-th document of a file */
} doc_list;

static void load_documents(const learn_opts *o, const seal_engine *eng, const seal_job *job,
                           doc_list *out) {
  memset(out, 0, sizeof *out);
  int budget = document_budget(eng, job);
  for (int f = 0; f < o->n_docs; f++) {
    int before = out->docs.n;
    seal_error e;
    if (seal_documents_load(o->docs[f], budget, count_tokens, (void *)eng, &out->docs, &e))
      SEAL_DIE_ERR(&e);
    out->names = seal_realloc(out->names, (size_t)(out->docs.n + 1) * sizeof *out->names);
    for (int i = before; i < out->docs.n; i++)
      out->names[i] = out->docs.n - before == 1 ? seal_strdup(o->docs[f])
                                                : seal_asprintf("%s#%d", o->docs[f], i - before);
  }
}

static void free_documents(doc_list *l) {
  for (int i = 0; i < l->docs.n; i++) free(l->names[i]);
  free(l->names);
  seal_documents_free(&l->docs);
}

/* ---- progress ------------------------------------------------------------------- */

typedef struct {
  const doc_list *list;
} progress;

static void print_doc(void *user, const seal_learn_state *st, int i, bool training) {
  const progress *p = user;
  const seal_document *doc = &p->list->docs.docs[i];
  const seal_learn_doc *d = &st->docs[i];
  char part[32] = "";
  if (doc->n_parts > 1) snprintf(part, sizeof part, " (part %d/%d)", doc->part + 1, doc->n_parts);
  int at = st->mode == SEAL_LEARN_ALL && training ? st->n_docs : i + 1;
  printf("[%d/%d] %s%s: ", at, st->n_docs,
         st->mode == SEAL_LEARN_ALL && training ? "all documents" : doc->title, part);
  if (!training && d->usable)
    printf("self-edit written (%d attempt(s))\n", d->attempts);
  else if (!d->usable)
    printf("SKIPPED: no usable self-edit after %d attempt(s): %s\n", d->attempts, d->reason);
  else if (st->mode == SEAL_LEARN_EACH)
    printf("trained on %d example(s), loss %.4f -> %.4f, merged\n", d->n_examples, d->first_loss,
           d->last_loss);
  else
    printf("one LoRA on %d example(s), loss %.4f -> %.4f\n", st->all_examples, st->all_first_loss,
           st->all_last_loss);
  fflush(stdout);
}

/* ---- the teacher ------------------------------------------------------------------ */

/* RUN_DIR or RUN_DIR/checkpoint.h5. */
static char *checkpoint_of(const char *policy) {
  struct stat sb;
  if (stat(policy, &sb) == 0 && S_ISDIR(sb.st_mode)) return seal_path_join(policy, "checkpoint.h5");
  return seal_strdup(policy);
}

/* Merges the run's policy rounds into eng: the teacher. A run with a teacher
 * (docs/teacher.md) trained that teacher's policy, so eng becomes its teacher
 * (on the same device) before the merge; --model stays the student. */
static void make_teacher(seal_engine *eng, const char *policy, const char *device) {
  char *path = checkpoint_of(policy);
  seal_run_state rs;
  seal_error e;
  if (seal_checkpoint_read(path, &rs, &e)) SEAL_DIE_ERR(&e);
  if (rs.n_policy_rounds == 0)
    SEAL_DIE("%s: the run has no finished round yet (no policy to write self-edits with)", path);
  if (rs.has_teacher) {
    if (!rs.teacher.path) SEAL_DIE("%s: the run's teacher is not named in it", path);
    seal_engine_close(eng);
    if (seal_engine_open(eng, rs.teacher.path, device, &e))
      SEAL_DIE("%s: the run's teacher: %s", path, e.msg);
  }
  if (seal_export_merge_rounds(&eng->model, &rs, SEAL_EXPORT_ALL_ROUNDS, &e))
    SEAL_DIE("%s: %s", path, e.msg);
  printf("self-edits by the policy of %s (%d round(s) merged)\n", path, rs.n_policy_rounds);
  seal_run_state_free(&rs);
  free(path);
}

/* ---- the result --------------------------------------------------------------------- */

/* The loss of each trained document's text under the learned model, as
 * `seal score` computes it. */
static void print_text_losses(seal_engine *eng, const seal_lora *lora, const doc_list *l,
                              const seal_learn_state *st) {
  int context = seal_engine_context(eng);
  int window = context < 1024 ? context : 1024; /* seal score's default */
  for (int i = 0; i < st->n_docs; i++) {
    if (!st->docs[i].trained) continue;
    int32_t *ids;
    int n = seal_engine_encode_prompt(eng, l->docs.docs[i].text, &ids);
    double sum = 0;
    long count = 0;
    if (n >= 2) cmd_score_windows(eng, lora, ids, n, window, 1, &sum, &count);
    free(ids);
    if (count)
      printf("  %s: mean loss of its text under the learned model %.4f (%ld tokens)\n",
             st->docs[i].name, sum / (double)count, count);
  }
}

static void write_result(const learn_opts *o, seal_engine *eng, seal_lora *all_lora,
                         const seal_learn_state *st) {
  seal_error e;
  if (!o->merge) {
    if (seal_learn_write_peft(st, eng->model.cfg.n_layers, &e)) SEAL_DIE_ERR(&e);
    printf("wrote PEFT adapter %s (use: --model %s --adapter %s)\n", o->output, o->model,
           o->output);
    return;
  }
  if (st->mode == SEAL_LEARN_ALL) seal_lora_merge(all_lora, &eng->model);
  struct stat sb;
  bool hf_dir = stat(o->model, &sb) == 0 && S_ISDIR(sb.st_mode);
  if (seal_export_hf_model(&eng->model, hf_dir ? o->model : NULL, o->output, SEAL_EXPORT_F32, &e))
    SEAL_DIE_ERR(&e);
  printf("wrote merged checkpoint %s\n", o->output);
  if (!hf_dir)
    printf(
        "note: the base is not a Hugging Face directory, so no tokenizer files were written; "
        "copy them from the model's Hugging Face repository (docs/export.md)\n");
}

static void report_skipped(const seal_learn_state *st) {
  int skipped = 0;
  for (int i = 0; i < st->n_docs; i++) skipped += !st->docs[i].trained;
  if (skipped)
    printf("%d of %d document(s) skipped: no usable self-edit (see above)\n", skipped, st->n_docs);
}

/* ---- the command ---------------------------------------------------------------------- */

static void open_engine(seal_engine *eng, const learn_opts *o, const seal_job *job) {
  seal_error e;
  const char *device = o->device ? o->device : seal_device_name(job->device);
  if (seal_engine_open(eng, o->model, device, &e)) SEAL_DIE_ERR(&e);
}

/* The state to go on from: a fresh one, or the one in DIR with --resume. */
static void start_state(const learn_opts *o, const seal_job *job, const doc_list *l,
                        seal_learn_state *st) {
  seal_learn_state want;
  seal_learn_state_init(&want, o->mode, o->output, o->model, o->policy, job->seed,
                        (float)job->inner.lora.alpha, (const char *const *)l->names, l->docs.n);
  char *path = seal_learn_state_path(o->output);
  bool exists = seal_file_exists(path);
  seal_error e;
  if (o->resume && !exists)
    SEAL_DIE("%s: no learn to resume there (run it without --resume first)", path);
  if (!o->resume && exists)
    SEAL_DIE("%s already holds a learn: continue it with --resume, or choose another --output",
             path);
  if (o->resume) {
    if (seal_learn_state_resume(st, &want, &e)) SEAL_DIE_ERR(&e);
    seal_learn_state_free(&want);
    printf("resuming %s: %d of %d self-edit(s) and %d training(s) done\n", path, st->n_selfedits,
           st->n_docs, st->n_trained);
  } else {
    *st = want;
    if (seal_mkdirs(o->output, &e) || seal_learn_state_save(st, &e)) SEAL_DIE_ERR(&e);
  }
  free(path);
}

int cmd_learn(int argc, char **argv) {
  learn_opts o;
  char **args = spread_docs(&argc, argv);
  int rc = parse(argc, args, &o);
  if (rc) {
    free(o.docs);
    free(args);
    return rc > 0 ? SEAL_EXIT_OK : SEAL_EXIT_USAGE;
  }
  seal_job job;
  load_job(&o, &job);
  seal_engine eng;
  open_engine(&eng, &o, &job);
  doc_list list;
  load_documents(&o, &eng, &job, &list);
  const char **titles = seal_calloc((size_t)list.docs.n + 1, sizeof(char *));
  const char **texts = seal_calloc((size_t)list.docs.n + 1, sizeof(char *));
  for (int i = 0; i < list.docs.n; i++)
    titles[i] = list.docs.docs[i].title, texts[i] = list.docs.docs[i].text;
  seal_domain d;
  seal_knowledge_open_documents(&d, job.task_settings, titles, texts, list.docs.n);
  seal_learn_state st;
  start_state(&o, &job, &list, &st);
  printf("learning %d document(s) from %d file(s) into %s (%s)\n", list.docs.n, o.n_docs, o.model,
         o.mode == SEAL_LEARN_EACH ? "--each: merged after every document" : "--all: one LoRA");
  progress p = {.list = &list};
  seal_learn_ctl ctl = {.stop = cmd_install_stop_signals(),
                        .stop_after = o.stop_after ? o.stop_after : -1,
                        .on_doc = print_doc,
                        .user = &p};
  seal_error e;
  rc = 0;
  if (st.n_selfedits < st.n_docs) {
    if (o.policy) make_teacher(&eng, o.policy, o.device ? o.device : seal_device_name(job.device));
    rc = seal_learn_selfedits(&st, &eng, &d, &job, &ctl, &e);
    if (o.policy && rc == 0) { /* the student is the base: load it again */
      seal_engine_close(&eng);
      open_engine(&eng, &o, &job);
    }
  }
  seal_lora all_lora = {0};
  if (rc == 0) rc = seal_learn_train(&st, &eng, &d, &job, &ctl, &all_lora, &e);
  if (rc < 0) SEAL_DIE_ERR(&e);
  if (rc == 0) {
    report_skipped(&st);
    print_text_losses(&eng, st.mode == SEAL_LEARN_ALL ? &all_lora : NULL, &list, &st);
    write_result(&o, &eng, &all_lora, &st);
  } else {
    printf("stopped after %d document(s); continue with --resume\n", ctl.done);
  }
  if (all_lora.owns) seal_lora_free(&all_lora);
  seal_learn_state_free(&st);
  seal_domain_close(&d);
  free(titles), free(texts);
  free_documents(&list);
  seal_engine_close(&eng);
  seal_job_free(&job);
  free(o.docs);
  free(args);
  return rc == 0 ? SEAL_EXIT_OK : SEAL_EXIT_PREEMPTED;
}
