// One usage line per khoctl command form: the one home of each. main.cc's
// table prints them (`khoctl help`, `khoctl CMD --help`) and each command
// prints its own beside an error in its arguments (FailWithUsage).
#ifndef KHOD_KHOCTL_USAGE_H_
#define KHOD_KHOCTL_USAGE_H_

namespace khod {

inline constexpr char kAttachUsage[] =
    "attach (--pid P --fd N | --model-size 1T [--model-hstate 4k|2m|1g] [--populate]) [--token T] "
    "[--name S] [--vm-token V --vm-type T] [--memslots FILE] [--gmem-flags F] [--hash] "
    "[--socket PATH] [--json]";
inline constexpr char kCancelUsage[] = "cancel [--socket PATH] [--json]";
inline constexpr char kCaptureUsage[] =
    "capture --pid P --fd N [--fd M ...] [--memslots FILE] [--attributes FILE] [--hash] -o OUT "
    "[--format fdt|proto]";
inline constexpr char kConvertUsage[] = "convert FILE --to fdt|proto -o OUT";
inline constexpr char kDetachUsage[] = "detach --token T [--socket PATH]";
inline constexpr char kFdsUsage[] = "fds [--socket PATH] [--json]";
inline constexpr char kFinishUsage[] = "finish [--socket PATH] [--json]";
inline constexpr char kFreezeUsage[] =
    "freeze --guests-paused [--transport dir|reexec|luo] [--format fdt|proto] [--dir NAME] "
    "[--socket PATH] [--json]";
inline constexpr char kInspectUsage[] = "inspect FILE [--json] [--extents] [--ranges]";
inline constexpr char kPrepareUsage[] = "prepare [--socket PATH] [--json]";
inline constexpr char kProbeUsage[] = "probe [--json] [--debugfs DIR]";
inline constexpr char kRestoreUsage[] =
    "restore [--socket PATH] [--force-rebuild] [--from-state-dir] [--no-verify] "
    "[--rebuild-into TOKEN:VM:PID:FD[,...]] [--json]";
inline constexpr char kSnapshotUsage[] =
    "snapshot -o OUT [--socket PATH] [--format fdt|proto] [--recapture]";
inline constexpr char kStatusUsage[] = "status [--socket PATH] [--json]";
inline constexpr char kSynthUsage[] =
    "synth -o OUT [--format fdt|proto] [--size 1T] [--backing 4k|2m|1g] [--run-pages N] "
    "[--shared-ranges N] [--vms N] [--gmems-per-vm N] [--memslots N] [--split-folios N] "
    "[--splits-in-progress N] [--all-shared] [--seed S]";
// verify's two forms (cmd_verify_route.cc tells them apart).
inline constexpr char kVerifyLiveUsage[] =
    "verify OUT --pid P --fd N [--fd M ...] [--memslots FILE] [--attributes FILE] [--json]";
inline constexpr char kVerifyKhodUsage[] = "verify [--socket PATH] [--json]";
inline constexpr char kVerifyRestoreUsage[] = "verify-restore [--socket PATH] [--json]";

}  // namespace khod

#endif  // KHOD_KHOCTL_USAGE_H_
