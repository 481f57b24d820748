// The Live Update Orchestrator uAPI of Linux 6.19 (include/uapi/linux/
// liveupdate.h), which Debian 12's headers predate. Written from the kernel's
// documentation; struct sizes are checked so that a typo shows at compile
// time. NOT exercised on a real kernel here: these machines have no
// /dev/liveupdate (see README).
#ifndef KHOD_HANDOVER_LUO_UAPI_H_
#define KHOD_HANDOVER_LUO_UAPI_H_

#include <linux/ioctl.h>
#include <linux/types.h>

namespace khod {
namespace luo {

constexpr const char* kDevicePath = "/dev/liveupdate";
constexpr unsigned kIoctlType = 0xBA;
constexpr unsigned kSessionNameLength = 64;  // including the NUL

// /dev/liveupdate commands.
constexpr unsigned kCmdCreateSession = 0x00;
constexpr unsigned kCmdRetrieveSession = 0x01;
// Session fd commands.
constexpr unsigned kCmdSessionPreserveFd = 0x40;
constexpr unsigned kCmdSessionRetrieveFd = 0x41;
constexpr unsigned kCmdSessionFinish = 0x42;

struct CreateSession {  // struct liveupdate_ioctl_create_session
  __u32 size;
  __s32 fd;  // out
  __u8 name[kSessionNameLength];
};
static_assert(sizeof(CreateSession) == 72, "liveupdate_ioctl_create_session layout");

struct RetrieveSession {  // struct liveupdate_ioctl_retrieve_session
  __u32 size;
  __s32 fd;  // out
  __u8 name[kSessionNameLength];
};
static_assert(sizeof(RetrieveSession) == 72, "liveupdate_ioctl_retrieve_session layout");

struct PreserveFd {  // struct liveupdate_session_preserve_fd
  __u32 size;
  __s32 fd;
  __aligned_u64 token;
};
static_assert(sizeof(PreserveFd) == 16, "liveupdate_session_preserve_fd layout");

struct RetrieveFd {  // struct liveupdate_session_retrieve_fd
  __u32 size;
  __s32 fd;  // out
  __aligned_u64 token;
};
static_assert(sizeof(RetrieveFd) == 16, "liveupdate_session_retrieve_fd layout");

struct SessionFinish {  // struct liveupdate_session_finish
  __u32 size;
  __u32 reserved;
};
static_assert(sizeof(SessionFinish) == 8, "liveupdate_session_finish layout");

// The kernel defines these with _IO (no size in the number): the size travels
// in the struct's first word instead, which is what makes them extensible.
constexpr unsigned long kIoctlCreateSession = _IO(kIoctlType, kCmdCreateSession);
constexpr unsigned long kIoctlRetrieveSession = _IO(kIoctlType, kCmdRetrieveSession);
constexpr unsigned long kSessionPreserveFd = _IO(kIoctlType, kCmdSessionPreserveFd);
constexpr unsigned long kSessionRetrieveFd = _IO(kIoctlType, kCmdSessionRetrieveFd);
constexpr unsigned long kSessionFinish = _IO(kIoctlType, kCmdSessionFinish);

}  // namespace luo
}  // namespace khod

#endif  // KHOD_HANDOVER_LUO_UAPI_H_
