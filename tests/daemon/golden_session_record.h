// The content of the checked-in golden session record
// (tests/daemon/golden/session_record_v1.rec, format KHODREC1 with a
// khod.v1.SessionRecord payload, docs/FORMAT.md "Session record file"):
// small but setting every field of session_record.proto as of v1, with
// several gmems (kernel guest_memfd, HugeTLB and shmem memfds, a MODEL one),
// two VMs with memslots, phase FROZEN, durations and blob names.
// make_golden_session_record writes the file from it once;
// session_record_golden_test checks the file keeps decoding to it.
#ifndef KHOD_TESTS_DAEMON_GOLDEN_SESSION_RECORD_H_
#define KHOD_TESTS_DAEMON_GOLDEN_SESSION_RECORD_H_

#include "daemon/session_record.pb.h"

namespace khod {

v1::SessionRecord GoldenSessionRecord();

constexpr char kGoldenSessionRecordName[] = "session_record_v1.rec";

}  // namespace khod

#endif  // KHOD_TESTS_DAEMON_GOLDEN_SESSION_RECORD_H_
