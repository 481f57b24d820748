// How a khoctl subcommand reports a flag mistake or a failure. The flags
// themselves are parsed by common/flags.h, the one parser of every khod program.
#ifndef KHOD_KHOCTL_FLAG_PARSER_H_
#define KHOD_KHOCTL_FLAG_PARSER_H_

#include "common/flags.h"
#include "common/status.h"
#include "khoctl/commands.h"

namespace khod {

// Prints "khoctl CMD: <status message>" and the usage line to stderr; returns kExitError.
int FailWithUsage(const char* command, const char* usage, const Status& status);

// Prints "khoctl CMD: <status, code and message>" to stderr; returns kExitError.
int Fail(const char* command, const Status& status);

}  // namespace khod

#endif  // KHOD_KHOCTL_FLAG_PARSER_H_
