// The name of a session phase as messages and errors print it.
#ifndef KHOD_DAEMON_SESSION_PHASE_H_
#define KHOD_DAEMON_SESSION_PHASE_H_

#include <string>

#include "proto/khod.pb.h"

namespace khod {

// "PREPARED"; a value the proto does not name prints as "PHASE_<n>".
inline std::string PhaseName(v1::Phase p) {
  std::string n = v1::Phase_Name(p);
  return n.empty() ? "PHASE_" + std::to_string(static_cast<int>(p)) : n;
}

}  // namespace khod

#endif  // KHOD_DAEMON_SESSION_PHASE_H_
