/* cmd/commands.c — the table of subcommands, in the order `seal --help` lists them. */
#include "cmd/cmd.h"

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_learn(int argc, char **argv);
int cmd_backends(int argc, char **argv);
int cmd_bench(int argc, char **argv);

const seal_command seal_commands[] = {
    {"train", "run SEAL (ReST-EM over self-edits) from a job file, on 1 or N MPI ranks", cmd_train},
    {"eval", "evaluate baselines and the policy after each round on held-out passages", cmd_eval},
    {"generate", "generate text from a model (plain or chat), greedy or sampled", cmd_generate},
    {"score", "per-token loss and perplexity of a text under a model", cmd_score},
    {"show", "what a self-edit of a context trains on and what the model is asked (JSON lines)",
     cmd_show},
    {"inspect", "summarise a run checkpoint: rounds, rewards, adapters, self-edits", cmd_inspect},
    {"learn",
     "take documents into a model: self-edits, LoRA on them, a PEFT adapter or merged model",
     cmd_learn},
    {"export", "write a run's policy as one PEFT adapter or a merged Hugging Face model",
     cmd_export},
    {"backends", "list the compute backends this build has and which one is the default",
     cmd_backends},
    {"bench", "measure load, prefill, decode and LoRA SFT step speed of a model", cmd_bench},
};
const int seal_n_commands = (int)(sizeof seal_commands / sizeof seal_commands[0]);
