/* tests/trainer/test_job.c — job files: values, defaults, errors with line:column,
 * the dump that parses back to the same job, and the shipped job files. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/knowledge_domain.h"
#include "model/lora.h"
#include "trainer/job.h"

#define BIT(t) SEAL_LORA_BIT(t)
#define ALL_TARGETS ((1u << SEAL_LORA_N_TARGETS) - 1)
/* Four lines every error case starts with, so errors sit on line 5 and below. */
#define BASE "model: m.gguf\ndata:\n  train: a.json\n  eval: b.json\n"
/* The knowledge task's settings of a job. */
#define K(j) ((const seal_knowledge_settings *)(j).task_settings)
#define PROTOCOL(p) (1u << SEAL_PROTOCOL_##p)

START_TEST(valid_job_file) {
  setenv("SEAL_TEST_MODEL_DIR", "/models/x", 1);
  seal_job j;
  seal_error e;
  ck_assert_msg(seal_job_load("tests/fixtures/knowledge/job-valid.yaml", &j, &e) == 0, "%s", e.msg);
  ck_assert_str_eq(j.model, "/models/x/tiny.gguf");
  ck_assert_int_eq(j.device, SEAL_DEVICE_CPU);
  ck_assert_uint_eq(j.seed, 7);
  ck_assert_str_eq(j.output, "runs/test");
  ck_assert_int_eq(j.rounds, 1);
  ck_assert_int_eq(j.repeats, 2);
  ck_assert_ptr_eq(j.task, &seal_knowledge_domain);
  ck_assert_str_eq(K(j)->data.train, "tests/fixtures/knowledge/grouped.json");
  ck_assert_int_eq(j.data.contexts_per_round, 2);
  ck_assert_int_eq(K(j)->selfedit.prompt, SEAL_PROMPT_SELF_QA);
  ck_assert_int_eq(j.selfedit.k, 3);
  ck_assert_double_eq(j.selfedit.temperature, 0.7);
  ck_assert_double_eq(j.selfedit.top_p, 0.9);
  ck_assert_int_eq(j.selfedit.max_tokens, 96);
  ck_assert_int_eq(j.inner.lora.r, 8);
  ck_assert_double_eq(j.inner.lora.alpha, 16);
  ck_assert_uint_eq(j.inner.lora.targets, BIT(SEAL_LORA_Q) | BIT(SEAL_LORA_V));
  ck_assert_int_eq(j.inner.epochs, 4);
  ck_assert_double_eq(j.inner.lr, 2.5e-4);
  ck_assert_int_eq(j.inner.schedule, SEAL_SCHEDULE_COSINE);
  ck_assert_int_eq(j.inner.warmup_steps, 3);
  ck_assert_int_eq(K(j)->grading.mode, SEAL_GRADE_F1);
  ck_assert_double_eq(K(j)->grading.f1_threshold, 0.8);
  ck_assert_uint_eq(j.evaluation.protocols, PROTOCOL(SINGLE) | PROTOCOL(CPT));
  ck_assert_int_eq(K(j)->cpt.n_passages, 2);
  /* keys the file leaves out keep the paper's values */
  ck_assert_int_eq(j.data.n_eval, 200);
  ck_assert_int_eq(j.inner.batch_size, 1);
  ck_assert_double_eq(j.inner.grad_clip, 1.0);
  ck_assert_int_eq(K(j)->answer.max_tokens, 64);
  ck_assert_int_eq(K(j)->cpt.lora.r, 32);
  seal_job_free(&j);
}
END_TEST

START_TEST(defaults_are_the_papers) {
  seal_job j;
  seal_error e;
  ck_assert_msg(seal_job_parse(BASE, "min.yaml", &j, &e) == 0, "%s", e.msg);
  ck_assert_str_eq(j.source, "min.yaml");
  ck_assert_ptr_eq(j.task, &seal_knowledge_domain);
  ck_assert_int_eq(j.device, SEAL_DEVICE_AUTO);
  ck_assert_int_eq(j.rounds, 2);
  ck_assert_int_eq(j.repeats, 3);
  ck_assert_int_eq(j.data.contexts_per_round, 50);
  ck_assert_int_eq(K(j)->selfedit.prompt, SEAL_PROMPT_IMPLICATIONS);
  ck_assert_int_eq(j.selfedit.k, 5);
  ck_assert_double_eq(j.selfedit.temperature, 1.0);
  ck_assert_double_eq(j.selfedit.top_p, 0.95);
  ck_assert_int_eq(j.selfedit.max_resamples, 0);
  ck_assert_int_eq(j.inner.lora.r, 32);
  ck_assert_double_eq(j.inner.lora.alpha, 64);
  ck_assert_uint_eq(j.inner.lora.targets, BIT(SEAL_LORA_Q) | BIT(SEAL_LORA_V));
  ck_assert_int_eq(j.inner.epochs, 10);
  ck_assert_double_eq(j.inner.lr, 1e-3);
  ck_assert_int_eq(j.inner.batch_size, 1);
  ck_assert_int_eq(j.inner.schedule, SEAL_SCHEDULE_LINEAR);
  ck_assert_int_eq(j.inner.warmup_steps, 0);
  ck_assert_double_eq(j.inner.weight_decay, 0.0);
  ck_assert_double_eq(j.inner.grad_clip, 1.0);
  ck_assert_int_eq(K(j)->answer.max_tokens, 64);
  ck_assert_int_eq(j.rest_em.lora.r, 64);
  ck_assert_double_eq(j.rest_em.lora.alpha, 128);
  ck_assert_uint_eq(j.rest_em.lora.targets, ALL_TARGETS);
  ck_assert_double_eq(j.rest_em.lr, 3e-4);
  ck_assert_int_eq(j.rest_em.epochs, 2);
  ck_assert_int_eq(j.rest_em.batch_size, 10);
  ck_assert_int_eq(j.reward.source, SEAL_REWARD_LABELS);
  ck_assert_int_eq(j.reward.signals, SEAL_SIGNALS_CHEAP);
  ck_assert_int_eq(j.reward.majority_samples, 4);
  ck_assert_double_eq(j.reward.majority_temperature, 1.0);
  ck_assert_uint_eq(j.evaluation.protocols, PROTOCOL(SINGLE));
  ck_assert_int_eq(j.evaluation.selfedits_per_context, 1);
  ck_assert_int_eq(K(j)->cpt.n_passages, 200);
  ck_assert_int_eq(K(j)->cpt.epochs, 3);
  ck_assert_double_eq(K(j)->cpt.lr, 1e-3);
  ck_assert_int_eq(K(j)->cpt.batch_size, 8);
  ck_assert_ptr_null(K(j)->grading.judge_model);
  ck_assert_double_eq(j.checkpoint.interval_seconds, 0);
  ck_assert_int_eq(j.testing.fault_evaluate.context, -1);
  seal_job_free(&j);
}
END_TEST

/* Parses text that must fail and checks the message is exactly `want`. */
static void check_error(const char *yaml, const char *want) {
  seal_job j;
  seal_error e = {{0}};
  int rc = seal_job_parse(yaml, "t.yaml", &j, &e);
  ck_assert_msg(rc == -1, "parsed but should fail with: %s", want);
  ck_assert_str_eq(e.msg, want);
  ck_assert_ptr_null(j.model); /* freed on error */
}

START_TEST(unknown_and_duplicate_keys) {
  check_error(BASE "inner_loop:\n  lr: 0.001\n  lrr: 3\n",
              "t.yaml:7:3: unknown key \"inner_loop.lrr\" (known here: lora, epochs, lr, "
              "batch_size, schedule, warmup_steps, weight_decay, grad_clip, group)");
  check_error(BASE "colour: blue\n",
              "t.yaml:5:1: unknown key \"colour\" (known here: task, model, teacher, device, "
              "teacher_device, "
              "seed, output, rounds, repeats, data, selfedit, inner_loop, answer, grading, "
              "rest_em, reward, "
              "evaluation, continual, checkpoint, testing)");
  check_error(BASE "rounds: 1\nrounds: 2\n", "t.yaml:6:1: rounds: duplicate key");
}
END_TEST

START_TEST(wrong_types) {
  check_error(BASE "inner_loop:\n  epochs: ten\n",
              "t.yaml:6:11: inner_loop.epochs: expected an integer, got \"ten\"");
  check_error(BASE "inner_loop:\n  epochs: 2.5\n",
              "t.yaml:6:11: inner_loop.epochs: expected an integer, got \"2.5\"");
  check_error(BASE "inner_loop:\n  lr: \"0.001\"\n",
              "t.yaml:6:7: inner_loop.lr: expected a number, got the string \"0.001\"");
  check_error(BASE "selfedit:\n  k: [1, 2]\n",
              "t.yaml:6:6: selfedit.k: expected an integer, got a list");
  check_error(BASE "selfedit: 3\n",
              "t.yaml:5:11: selfedit: expected a mapping of keys, got a scalar");
  check_error(BASE "inner_loop:\n  lr: .inf\n",
              "t.yaml:6:7: inner_loop.lr: expected a number, got \".inf\"");
  check_error(BASE "device: gpu\n",
              "t.yaml:5:9: device: unknown value \"gpu\" (one of: auto, cpu, cuda, cpu:bf16, cpu:q8, cpu:q4)");
  check_error(BASE "teacher: t.gguf\nteacher_device: gpu\n",
              "t.yaml:6:17: teacher_device: unknown value \"gpu\" (one of: same, auto, cpu, cuda, cpu:bf16, cpu:q8, cpu:q4)");
  check_error(BASE "teacher_device: cpu\n",
              "t.yaml:5:17: teacher_device: \"cpu\" places a teacher, but the job has none "
              "(teacher: self): set teacher to a model, or leave teacher_device out (the model "
              "runs on `device`)");
  check_error(BASE "seed: -1\n", "t.yaml:5:7: seed: expected a non-negative integer, got \"-1\"");
  check_error(BASE "reward:\n  source: confidence\n",
              "t.yaml:6:11: reward.source: unknown value \"confidence\" (one of: labels, "
              "self-certainty, entropy, majority)");
}
END_TEST

/* teacher_device: `same` (the default) follows device, another value places the
 * teacher on its own backend; the dump gives it back. */
START_TEST(teacher_device_key) {
  seal_job j, back;
  seal_error e;
  ck_assert_msg(seal_job_parse(BASE "device: cuda\nteacher: t.gguf\n", "t.yaml", &j, &e) == 0, "%s",
                e.msg);
  ck_assert_int_eq(j.teacher_device, SEAL_TEACHER_DEVICE_SAME);
  ck_assert_int_eq(seal_job_teacher_device(&j), SEAL_DEVICE_CUDA);
  seal_job_free(&j);
  const char *yaml = BASE "device: cuda\nteacher: t.gguf\nteacher_device: cpu\n";
  ck_assert_msg(seal_job_parse(yaml, "t.yaml", &j, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(j.device, SEAL_DEVICE_CUDA);
  ck_assert_int_eq(seal_job_teacher_device(&j), SEAL_DEVICE_CPU);
  char *dump = seal_job_to_yaml(&j);
  ck_assert_ptr_nonnull(strstr(dump, "\nteacher_device: cpu\n"));
  ck_assert_msg(seal_job_parse(dump, "dump", &back, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(seal_job_teacher_device(&back), SEAL_DEVICE_CPU);
  free(dump);
  seal_job_free(&back);
  seal_job_free(&j);
  ck_assert_msg(
      seal_job_parse(BASE "device: cpu\nteacher: t\nteacher_device: auto\n", "t.yaml", &j, &e) == 0,
      "%s", e.msg);
  ck_assert_int_eq(seal_job_teacher_device(&j), SEAL_DEVICE_AUTO);
  seal_job_free(&j);
}
END_TEST

/* reward.source names a label-free source; the dump gives it back. */
START_TEST(reward_source_keys) {
  seal_job j, back;
  seal_error e;
  const char *yaml = BASE "reward:\n  source: majority\n  signals: all\n  majority_samples: 8\n";
  ck_assert_msg(seal_job_parse(yaml, "r.yaml", &j, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(j.reward.source, SEAL_REWARD_MAJORITY);
  ck_assert_int_eq(j.reward.majority_samples, 8);
  ck_assert_str_eq(seal_reward_source_name(j.reward.source), "majority");
  char *dump = seal_job_to_yaml(&j);
  ck_assert_msg(seal_job_parse(dump, "dump", &back, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(back.reward.source, SEAL_REWARD_MAJORITY);
  ck_assert_int_eq(back.reward.majority_samples, 8);
  ck_assert_int_eq(back.reward.signals, SEAL_SIGNALS_ALL);
  free(dump);
  seal_job_free(&back);
  seal_job_free(&j);
}
END_TEST

START_TEST(out_of_range_values) {
  check_error(BASE "inner_loop:\n  lr: -1e-3\n",
              "t.yaml:6:7: inner_loop.lr: must be > 0, got -1e-3");
  check_error(BASE "reward:\n  majority_samples: 0\n",
              "t.yaml:6:21: reward.majority_samples: must be in [1, 1024], got 0");
  check_error(BASE "reward:\n  majority_temperature: 0\n",
              "t.yaml:6:25: reward.majority_temperature: must be in (0, 100], got 0");
  check_error(BASE "selfedit:\n  top_p: 1.5\n",
              "t.yaml:6:10: selfedit.top_p: must be in (0, 1], got 1.5");
  check_error(BASE "inner_loop:\n  lora: {r: 0}\n",
              "t.yaml:6:13: inner_loop.lora.r: must be in [1, 65536], got 0");
  check_error(BASE "rest_em:\n  lora:\n    targets: [q, x_proj]\n",
              "t.yaml:7:18: rest_em.lora.targets: unknown LoRA target \"x_proj\" (one of: q, k, v, "
              "o, gate, up, down)");
  check_error(BASE "rest_em:\n  lora:\n    targets: [q, q_proj]\n",
              "t.yaml:7:18: rest_em.lora.targets: target \"q_proj\" is listed twice");
  check_error(BASE "rest_em:\n  lora:\n    targets: []\n",
              "t.yaml:7:14: rest_em.lora.targets: needs at least one target");
  check_error(BASE "  contexts_per_round: 0\n",
              "t.yaml:5:23: data.contexts_per_round: must be >= 1, got 0");
  check_error(BASE "grading:\n  f1_threshold: 2\n",
              "t.yaml:6:17: grading.f1_threshold: must be in [0, 1], got 2");
  check_error(BASE "evaluation:\n  protocols: [single-passage, few-shot]\n",
              "t.yaml:6:31: evaluation.protocols: unknown protocol \"few-shot\" (one of: "
              "single-passage, continued-pretraining, continual)");
}
END_TEST

START_TEST(missing_and_inconsistent) {
  check_error("data:\n  train: a\n  eval: b\n", "t.yaml:1:1: missing required key \"model\"");
  check_error("model: m\ndata:\n  train: a\n", "t.yaml:3:3: data: missing required key \"eval\"");
  check_error("model: m\n", "t.yaml:1:1: missing required key \"data.train\"");
  check_error(BASE "grading:\n  mode: judge\n",
              "t.yaml:6:9: grading.mode: judge grading needs grading.judge_model (a model path)");
  check_error("", "t.yaml:1:1: the job is empty (it needs at least model and data)");
  unsetenv("SEAL_TEST_UNSET_VAR");
  check_error("model: ${SEAL_TEST_UNSET_VAR}/m\n",
              "t.yaml:1:8: model: environment variable SEAL_TEST_UNSET_VAR (in "
              "\"${SEAL_TEST_UNSET_VAR}/m\") is not set");
}
END_TEST

START_TEST(yaml_syntax_errors_have_positions) {
  seal_job j;
  seal_error e;
  ck_assert_int_eq(seal_job_parse(BASE "selfedit: [1, 2\n", "t.yaml", &j, &e), -1);
  ck_assert_msg(strncmp(e.msg, "t.yaml:6:1: invalid YAML: ", 26) == 0, "%s", e.msg);
  ck_assert_int_eq(seal_job_parse("model: m\n  data: x\n", "t.yaml", &j, &e), -1);
  ck_assert_msg(strncmp(e.msg, "t.yaml:2:7: invalid YAML: ", 26) == 0, "%s", e.msg);
}
END_TEST

START_TEST(dump_parses_back_to_the_same_job) {
  setenv("SEAL_TEST_MODEL_DIR", "/models/$weird \"dir\"", 1);
  seal_job a, b;
  seal_error e;
  ck_assert_msg(seal_job_load("tests/fixtures/knowledge/job-valid.yaml", &a, &e) == 0, "%s", e.msg);
  char *text = seal_job_to_yaml(&a);
  ck_assert_msg(seal_job_parse(text, "dump.yaml", &b, &e) == 0, "%s\n%s", e.msg, text);
  ck_assert_str_eq(b.model, "/models/$weird \"dir\"/tiny.gguf");
  char *again = seal_job_to_yaml(&b);
  /* the header names the source; the rest must be identical */
  ck_assert_str_eq(strchr(again, '\n'), strchr(text, '\n'));
  ck_assert_double_eq(b.inner.lr, a.inner.lr);
  ck_assert_double_eq(b.selfedit.top_p, a.selfedit.top_p);
  ck_assert_uint_eq(b.inner.lora.targets, a.inner.lora.targets);
  ck_assert_uint_eq(b.rest_em.lora.targets, ALL_TARGETS);
  ck_assert_int_eq(K(b)->grading.mode, K(a)->grading.mode);
  ck_assert_uint_eq(b.evaluation.protocols, a.evaluation.protocols);
  ck_assert_ptr_null(K(b)->grading.judge_model);
  ck_assert_msg(strstr(text, "\n  lr: 0.00025\n") != NULL, "%s", text);
  ck_assert_msg(strstr(text, "targets: [q, v]") != NULL, "%s", text);
  free(text), free(again);
  seal_job_free(&a), seal_job_free(&b);
}
END_TEST

START_TEST(path_expansion) {
  seal_error e;
  setenv("HOME", "/home/tester", 1);
  setenv("SEAL_TEST_VAR", "xyz", 1);
  unsetenv("SEAL_TEST_UNSET_VAR");
  char *p = seal_expand_path("~/.cache/${SEAL_TEST_VAR}/m$$1.gguf", &e);
  ck_assert_str_eq(p, "/home/tester/.cache/xyz/m$1.gguf");
  free(p);
  p = seal_expand_path("${SEAL_TEST_UNSET_VAR:-/d/x}/${SEAL_TEST_VAR:-no}", &e);
  ck_assert_str_eq(p, "/d/x/xyz");
  free(p);
  p = seal_expand_path("a/~b/$c", &e); /* only a leading ~; a lone $ stays */
  ck_assert_str_eq(p, "a/~b/$c");
  free(p);
  ck_assert_ptr_null(seal_expand_path("${SEAL_TEST_VAR", &e));
  ck_assert_str_eq(e.msg, "unclosed \"${\" in \"${SEAL_TEST_VAR\"");
}
END_TEST

START_TEST(shipped_jobs_parse) {
  const char *jobs[] = {"jobs/demo.yaml", "jobs/knowledge-qwen2.5-7b.yaml",
                        "jobs/knowledge-smollm2.yaml", "jobs/demo-labelfree.yaml"};
  if (!getenv("HOME")) setenv("HOME", "/root", 1);
  for (int i = 0; i < 4; i++) {
    seal_job j;
    seal_error e;
    ck_assert_msg(seal_job_load(jobs[i], &j, &e) == 0, "%s", e.msg);
    ck_assert_ptr_nonnull(j.model);
    ck_assert_int_eq(j.reward.source, i == 3 ? SEAL_REWARD_SELF_CERTAINTY : SEAL_REWARD_LABELS);
    seal_job_free(&j);
  }
}
END_TEST

/* ---- a second task: how the reader merges a task's keys ------------------------- */

/* "toy": a task of the job reader's tests only (its keys; nothing here opens
 * data). A mapping of its own, a key added to the trainer's selfedit, and
 * defaults that override the trainer's. */
typedef struct {
  int steps;
  int style;
  char *notes;
} toy_settings;

static const char *toy_style(int v) {
  static const char *const names[] = {"plain", "fancy"};
  return v >= 0 && v < SEAL_ARRAY_LEN(names) ? names[v] : NULL;
}

static const seal_schema_key toy_own_keys[] = {
    SEAL_SCHEMA_INT_KEY("steps", toy_settings, steps, 1, 375),
    SEAL_SCHEMA_PATH_KEY("notes", toy_settings, notes, false),
    SEAL_SCHEMA_END,
};
static const seal_schema_key toy_selfedit_keys[] = {
    SEAL_SCHEMA_ENUM_KEY("style", toy_settings, style, toy_style),
    SEAL_SCHEMA_END,
};
static const seal_schema_key toy_keys[] = {
    SEAL_SCHEMA_MAP_KEY("selfedit", toy_selfedit_keys),
    SEAL_SCHEMA_MAP_KEY("toy", toy_own_keys),
    SEAL_SCHEMA_END,
};

static void toy_defaults(void *s) { *(toy_settings *)s = (toy_settings){.steps = 10}; }
static void toy_free(void *s) { free(((toy_settings *)s)->notes); }
static const char *const toy_protocols[SEAL_N_PROTOCOLS] = {[SEAL_PROTOCOL_SINGLE] = "single"};

static const seal_domain_ops toy_task = {
    .name = "toy",
    .settings_size = sizeof(toy_settings),
    .defaults = toy_defaults,
    .free_settings = toy_free,
    .keys = toy_keys,
    .defaults_yaml =
        "selfedit:\n  k: 15\n  temperature: 0.8\nevaluation:\n  selfedits_per_context: 5\n",
    .protocol_names = toy_protocols,
};

static const seal_domain_ops *const two_tasks[] = {&seal_knowledge_domain, &toy_task, NULL};

static void check_error_two(const char *yaml, const char *want) {
  seal_job j;
  seal_error e = {{0}};
  ck_assert_msg(seal_job_parse_tasks(yaml, "t.yaml", two_tasks, &j, &e) == -1,
                "parsed but should fail with: %s", want);
  ck_assert_str_eq(e.msg, want);
}

START_TEST(a_task_adds_its_keys_and_defaults) {
  seal_job j;
  seal_error e;
  const char *yaml = "task: toy\nmodel: m\ntoy:\n  steps: 7\nselfedit:\n  style: fancy\n";
  ck_assert_msg(seal_job_parse_tasks(yaml, "t.yaml", two_tasks, &j, &e) == 0, "%s", e.msg);
  ck_assert_ptr_eq(j.task, &toy_task);
  const toy_settings *t = j.task_settings;
  ck_assert_int_eq(t->steps, 7);
  ck_assert_int_eq(t->style, 1);
  ck_assert_int_eq(j.selfedit.k, 15); /* the task's defaults over the trainer's */
  ck_assert_double_eq(j.selfedit.temperature, 0.8);
  ck_assert_int_eq(j.evaluation.selfedits_per_context, 5);
  ck_assert_double_eq(j.selfedit.top_p, 0.95); /* the trainer's where the task is silent */
  /* the dump holds the task's keys where they were declared, and reads back */
  char *text = seal_job_to_yaml(&j);
  ck_assert_msg(strstr(text, "\ntask: toy\n") != NULL, "%s", text);
  ck_assert_msg(strstr(text, "\nselfedit:\n  style: fancy\n  k: 15\n") != NULL, "%s", text);
  ck_assert_msg(strstr(text, "\ntoy:\n  steps: 7\n  notes: null\nrest_em:") != NULL, "%s", text);
  ck_assert_msg(strstr(text, "protocols: [single]") != NULL, "%s", text);
  seal_job b;
  ck_assert_msg(seal_job_parse_tasks(text, "dump.yaml", two_tasks, &b, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(((const toy_settings *)b.task_settings)->steps, 7);
  free(text);
  seal_job_free(&b);
  seal_job_free(&j);
}
END_TEST

START_TEST(keys_of_another_task_are_refused_naming_it) {
  check_error_two(
      BASE "toy:\n  steps: 3\n",
      "t.yaml:5:1: unknown key \"toy\" (a key of task toy; this job's task is knowledge)");
  check_error_two(BASE "selfedit:\n  style: plain\n",
                  "t.yaml:6:3: unknown key \"selfedit.style\" (a key of task toy; this job's task "
                  "is knowledge)");
  check_error_two("task: toy\nmodel: m\ndata:\n  train: a.json\n",
                  "t.yaml:4:3: unknown key \"data.train\" (a key of task knowledge; this job's "
                  "task is toy)");
  check_error_two("task: toy\nmodel: m\ntoy:\n  steps: 400\n",
                  "t.yaml:4:10: toy.steps: must be in [1, 375], got 400");
  check_error_two("task: arc\nmodel: m\n",
                  "t.yaml:1:7: task: unknown value \"arc\" (one of: knowledge, toy)");
  check_error_two("task: toy\nmodel: m\nevaluation:\n  protocols: [single-passage]\n",
                  "t.yaml:4:15: evaluation.protocols: unknown protocol \"single-passage\" (one of: "
                  "single)");
}
END_TEST

START_TEST(test_hooks_and_checkpoint_interval_are_job_keys) {
  seal_job j;
  seal_error e;
  const char *yaml = BASE
      "checkpoint:\n  interval_seconds: 60\n"
      "testing:\n  fault_evaluate: {context: 1, sample: 0, repeat: 1}\n";
  ck_assert_msg(seal_job_parse(yaml, "t.yaml", &j, &e) == 0, "%s", e.msg);
  ck_assert_double_eq(j.checkpoint.interval_seconds, 60);
  ck_assert_int_eq(j.testing.fault_evaluate.context, 1);
  ck_assert_int_eq(j.testing.fault_evaluate.sample, 0);
  ck_assert_int_eq(j.testing.fault_evaluate.repeat, 1);
  seal_job_free(&j);
  check_error(BASE "checkpoint:\n  interval_seconds: -1\n",
              "t.yaml:6:21: checkpoint.interval_seconds: must be >= 0, got -1");
}
END_TEST

Suite *job_suite(void) {
  Suite *s = suite_create("job");
  TCase *tc = tcase_create("job");
  tcase_add_test(tc, valid_job_file);
  tcase_add_test(tc, defaults_are_the_papers);
  tcase_add_test(tc, reward_source_keys);
  tcase_add_test(tc, teacher_device_key);
  tcase_add_test(tc, unknown_and_duplicate_keys);
  tcase_add_test(tc, wrong_types);
  tcase_add_test(tc, out_of_range_values);
  tcase_add_test(tc, missing_and_inconsistent);
  tcase_add_test(tc, yaml_syntax_errors_have_positions);
  tcase_add_test(tc, dump_parses_back_to_the_same_job);
  tcase_add_test(tc, path_expansion);
  tcase_add_test(tc, shipped_jobs_parse);
  tcase_add_test(tc, a_task_adds_its_keys_and_defaults);
  tcase_add_test(tc, keys_of_another_task_are_refused_naming_it);
  tcase_add_test(tc, test_hooks_and_checkpoint_interval_are_job_keys);
  suite_add_tcase(s, tc);
  return s;
}
