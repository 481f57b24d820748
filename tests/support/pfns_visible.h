// Whether this test process can see PFNs and folio flags: root outside a user
// namespace (the sandbox's hides them), /proc/kpageflags readable. Tests that
// compare captures skip without it.
#ifndef KHOD_TESTS_SUPPORT_PFNS_VISIBLE_H_
#define KHOD_TESTS_SUPPORT_PFNS_VISIBLE_H_

#include <unistd.h>

#include "kernel/pagemap.h"

namespace khod {

inline bool PfnsVisible() {
  if (::geteuid() != 0) return false;
  auto r = PageFrameReader::Open();
  return r.ok() && r->kpageflags_readable();
}

}  // namespace khod

#endif  // KHOD_TESTS_SUPPORT_PFNS_VISIBLE_H_
