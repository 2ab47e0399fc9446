/* cmd/commands.c — the table of subcommands. */
#include "cmd/cmd.h"

int cmd_backends(int argc, char **argv);

const seal_command seal_commands[] = {
    {"backends", "list the compute backends this build has and which one is the default",
     cmd_backends},
};
const int seal_n_commands = (int)(sizeof seal_commands / sizeof seal_commands[0]);
